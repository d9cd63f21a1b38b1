"""Time-aligned video search: a video is decoded once (``decoding``), cut into segments (``segments``), each
segment's frames and transcript go through the encoder services (``encoding``), and the whole runs as a job
whose progress is kept on disk so that a restart resumes it (``jobs``)."""
