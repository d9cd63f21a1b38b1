"""Vision backends by registry key; imported lazily, only when a configured model names them."""

REGISTRY: dict[str, str] = {
    "efficientnet-lite": "services.vision.backends.efficientnet:EfficientNetLite",
    "rapidocr": "services.vision.backends.rapidocr:RapidOcrReader",
    "clip-vision": "services.vision.backends.clip:ClipImageEmbedder",
    "siglip-vision": "services.vision.backends.clip:SiglipImageEmbedder",
    "blip": "services.vision.backends.captioning:BlipCaptioner",
    "vision-encoder-decoder": "services.vision.backends.captioning:VisionEncoderDecoderCaptioner",
    "blip-vqa": "services.vision.backends.vqa:BlipQuestionAnswerer",
    "image-text-to-text": "services.vision.backends.vqa:ImageTextToTextChat",
}
