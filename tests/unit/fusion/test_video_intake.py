"""The fields of a video upload: form text converted and checked, and stated in the OpenAPI document the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.fusion.video.intake import VIDEO_ID, VIDEO_ID_MAX_CHARS, VideoUploadParams

FUSION_DOCUMENT = Path(__file__).resolve().parents[3] / "gateway" / "openapi" / "fusion.yaml"


def test_form_fields_are_converted_from_text() -> None:
    params = VideoUploadParams.model_validate({"video_id": "talk:2026-01.a", "metadata": '{"n": 1}',
                                               "allow_degraded": "true"})
    assert (params.video_id, params.metadata, params.allow_degraded) == ("talk:2026-01.a", {"n": 1}, True)
    assert len(VideoUploadParams().video_id) == 16


@pytest.mark.parametrize("fields", [{"metadata": "[1]"}, {"metadata": "{"}, {"video_id": "-starts-badly"},
                                    {"video_id": "x" * 129}, {"allow_degraded": "perhaps"}, {"other": "1"},
                                    {"metadata": '{"k": "' + "x" * 20_000 + '"}'}])
def test_bad_fields_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        VideoUploadParams.model_validate(fields)


def test_the_openapi_document_states_the_video_id_rule_of_the_code() -> None:
    document = yaml.safe_load(FUSION_DOCUMENT.read_text())
    video_id = document["components"]["schemas"]["VideoId"]
    assert (video_id["pattern"], video_id["maxLength"]) == (VIDEO_ID, VIDEO_ID_MAX_CHARS)
