"""Python client for the polyserve gateway: ``Polyserve(base_url, api_key)``; torch-free, on requests."""

from polyserve_client.client import Polyserve, chat_message
from polyserve_client.errors import JobFailed, JobTimeout, PolyserveError
from polyserve_client.files import Upload, load, to_b64
from polyserve_client.jobs import Job

__all__ = ["Job", "JobFailed", "JobTimeout", "Polyserve", "PolyserveError", "Upload", "chat_message", "load", "to_b64"]
