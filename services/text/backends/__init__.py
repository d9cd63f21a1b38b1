"""Text backends by registry key; imported lazily, only when a configured model names them."""

REGISTRY: dict[str, str] = {
    "sentence-transformers": "services.text.backends.sentence:SentenceEmbedder",
    "clip-text": "services.text.backends.clip:ClipTextEmbedder",
    "clap-text": "services.text.backends.clap:ClapTextEmbedder",
    "onnx": "services.text.backends.onnx:OnnxSentenceEmbedder",
    "cross-encoder": "services.text.backends.cross_encoder:CrossEncoderReranker",
}
