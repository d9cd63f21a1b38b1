"""Run an embedded Milvus standalone server (PyPI ``milvus``) until SIGTERM; started by ``milvus_server.py``.

Runs under the Milvus server's own virtual environment, so it imports nothing from the project. Every port the
server needs is picked free on loopback (the embedded etcd's too); the proxy port, the one clients use, is written
to the file given as the second argument once the server answers its health check.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import types

from milvus import MilvusServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_etcd_config(data_dir: str, client_port: int) -> str:
    """Milvus's embedded etcd listens for peers on 2380 unless told otherwise: a file that moves it (and its
    clients' port) to free ports, so that several servers run side by side."""
    peer = f"http://127.0.0.1:{free_port()}"
    client = f"http://127.0.0.1:{client_port}"
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, "embedEtcd.yaml")
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"listen-client-urls: {client}\nadvertise-client-urls: {client}\nlisten-peer-urls: {peer}\n"
                  f"initial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n")
    return path


def main(data_dir: str, port_file: str) -> None:
    server = MilvusServer()
    server.set_base_dir(data_dir)
    etcd_port = free_port()
    server.config.set("etcd_port", etcd_port)
    os.environ["ETCD_CONFIG_PATH"] = embedded_etcd_config(data_dir, etcd_port)

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
