"""Audio backends by registry key; imported lazily, only when a configured model names them."""

REGISTRY: dict[str, str] = {
    "faster-whisper": "services.audio.backends.faster_whisper:FasterWhisperBackend",
    "whisper": "services.audio.backends.hf_whisper:HfWhisperBackend",
    "ctc": "services.audio.backends.hf_ctc:HfCtcBackend",
    "clap-audio": "services.audio.backends.clap:ClapAudioBackend",
}
