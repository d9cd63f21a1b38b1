"""Run an embedded Milvus standalone server (PyPI ``milvus``) until SIGTERM; started by ``milvus_server.py``.

Runs under the Milvus server's own virtual environment, so it imports nothing from the project. Every port the
server needs is picked free on loopback (starting from Milvus's defaults); the proxy port, the one clients use,
is written to the file given as the second argument once the server answers its health check.
"""

from __future__ import annotations

import signal
import sys
import types

from milvus import MilvusServer


def main(data_dir: str, port_file: str) -> None:
    server = MilvusServer()
    server.set_base_dir(data_dir)

    def stop(signum: int, frame: types.FrameType | None) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    with open(port_file, "w", encoding="utf-8") as out:
        out.write(str(server.listen_port))
    server.wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
