from __future__ import annotations

import base64

import numpy as np
import pytest

from servekit.codecs import base64_to_vector, decode_base64_payload, vector_to_base64
from servekit.embeddings import check_dimensions, embedding_response, shorten
from servekit.errors import InvalidInput, PayloadTooLarge


def test_vectors_round_trip_through_base64_as_little_endian_float32() -> None:
    vector = np.array([0.5, -1.25, 3.0], dtype=np.float32)
    encoded = vector_to_base64(vector)
    assert base64.b64decode(encoded) == b"\x00\x00\x00?\x00\x00\xa0\xbf\x00\x00@@"
    assert np.array_equal(base64_to_vector(encoded), vector)


def test_data_uris_and_plain_base64_decode() -> None:
    raw = b"\x89PNG payload"
    plain = base64.b64encode(raw).decode()
    assert decode_base64_payload(plain, max_bytes=100, param="p") == (raw, None)
    assert decode_base64_payload(f"data:image/png;base64,{plain}", max_bytes=100, param="p") == (raw, "image/png")


@pytest.mark.parametrize(("value", "code"), [("", "empty_input"), ("data:image/png;base64,", "empty_input"),
                                             ("not base64!", "invalid_base64"),
                                             ("data:text/plain,hello", "invalid_data_uri")])
def test_bad_payloads_are_clear_400s(value: str, code: str) -> None:
    with pytest.raises(InvalidInput) as error:
        decode_base64_payload(value, max_bytes=100, param="input[0]")
    assert error.value.code == code
    assert error.value.param == "input[0]"


def test_oversized_payload_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_base64_payload(base64.b64encode(b"x" * 300).decode(), max_bytes=100, param="p")


def test_shorten_truncates_and_renormalises() -> None:
    out = shorten(np.array([3.0, 4.0, 12.0], dtype=np.float32), 2)
    assert np.allclose(out, [0.6, 0.8])


def test_dimensions_only_for_truncatable_models() -> None:
    check_dimensions(None, 384, False, "m")
    check_dimensions(384, 384, False, "m")
    check_dimensions(128, 384, True, "m")
    with pytest.raises(InvalidInput):
        check_dimensions(128, 384, False, "m")
    with pytest.raises(InvalidInput):
        check_dimensions(500, 384, True, "m")


def test_embedding_response_shape() -> None:
    body = embedding_response([np.ones(4, dtype=np.float32)] * 2, model="m", space="s", encoding_format="float",
                              tokens=[3, 5])
    assert body["data"] == [{"object": "embedding", "index": i, "embedding": [1.0, 1.0, 1.0, 1.0], "tokens": n}
                            for i, n in enumerate([3, 5])]
    assert body["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    uncounted = embedding_response([np.ones(4, dtype=np.float32)], model="m", space=None)
    assert "tokens" not in uncounted["data"][0] and uncounted["usage"]["prompt_tokens"] == 0
    assert (body["dimensions"], body["space"], body["model"]) == (4, "s", "m")
