"""Visual question answering and image-grounded chat with generative models.

``blip-vqa``: ``BlipForQuestionAnswering`` (Salesforce/blip-vqa-base): one short answer per (image, question).
``image-text-to-text``: whatever ``AutoModelForImageTextToText`` and ``AutoProcessor`` load (SmolVLM / Idefics3,
LLaVA, PaliGemma, Qwen2-VL, ...): conversations rendered with the processor's own chat template (a plain
prompt for checkpoints without one, such as PaliGemma), answers generated greedily or sampled. Jobs that agree on
their sampling options share one left-padded ``generate`` call; a streamed item runs alone and sends its text
to its streamer as it is produced. Every generation stops early when its item is cancelled or out of time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from PIL import Image
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from servekit.errors import DeadlineExceeded
from servekit.models import resolve_source
from services.vision.backends.base import ImageBackend, warmup_image
from services.vision.generation import (
    ChatAnswer,
    ChatItem,
    FinishReason,
    QuestionItem,
    Sampling,
    Turn,
    trim_at_stop,
)

J = TypeVar("J")
WARMUP_QUESTION = "What is in this picture?"


def grouped(items: Sequence[J], key: Callable[[J], Hashable]) -> dict[Hashable, list[int]]:
    """Indices of the items that may share one ``generate`` call, by their shared options."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append(index)
    return groups


def run_grouped(items: Sequence[J], key: Callable[[J], Hashable],
                run: Callable[[list[J]], Sequence[Any]]) -> list[Any]:
    """Run each group of items together and put every output back in its item's slot."""
    outputs: list[Any] = [None] * len(items)
    for indices in grouped(items, key).values():
        for index, output in zip(indices, run([items[i] for i in indices]), strict=True):
            outputs[index] = output
    return outputs


class GenerativeBackend(ImageBackend):
    """Loads a processor and a model; floats on CUDA in the model's ``dtype`` option (float16 by default)."""

    processor: Any
    model: Any

    @property
    def model_dtype(self) -> Any:
        import torch

        wanted = self.spec.options.get("dtype")
        return getattr(torch, str(wanted)) if wanted and self.placement.is_cuda else self.placement.dtype

    def to_model(self, inputs: Any) -> Any:
        """Processor outputs onto the model's device, floating tensors in the model's dtype."""
        moved = inputs.to(self.placement.device)
        for name, value in moved.items():
            if hasattr(value, "is_floating_point") and value.is_floating_point():
                moved[name] = value.to(self.model_dtype)
        return moved


class BlipQuestionAnswerer(GenerativeBackend):
    """``answer``: ``BlipForQuestionAnswering`` with its ``BlipProcessor``; one short answer per image."""

    tasks = frozenset({"answer"})

    def load(self) -> None:
        from transformers import BlipForQuestionAnswering, BlipProcessor

        source = resolve_source(self.spec.source)
        self.processor = BlipProcessor.from_pretrained(source)
        self.model = BlipForQuestionAnswering.from_pretrained(source, dtype=self.model_dtype)
        self.model = self.model.to(self.placement.device).eval()

    def warmup(self) -> None:
        self.answer([QuestionItem(warmup_image(), question=WARMUP_QUESTION, max_new_tokens=2)])

    def answer(self, items: list[QuestionItem]) -> list[str]:
        return run_grouped(items, lambda item: item.max_new_tokens, self._answer)

    def _answer(self, items: list[QuestionItem]) -> list[str]:
        import torch

        with self.stage("preprocess", len(items)):
            inputs = self.to_model(self.processor(images=self.images(items), text=[item.question for item in items],
                                                  padding=True, return_tensors="pt"))
        with self.stage("forward", len(items)), torch.inference_mode():
            tokens = self.model.generate(**inputs, max_new_tokens=items[0].max_new_tokens, do_sample=False)
        with self.stage("postprocess", len(items)):
            return [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]


class ImageTextToTextChat(GenerativeBackend):
    """``answer`` and ``chat`` with any ``AutoModelForImageTextToText`` checkpoint and its processor."""

    tasks = frozenset({"answer", "chat"})
    tokenizer: Any

    def load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        source = resolve_source(self.spec.source)
        self.processor = AutoProcessor.from_pretrained(source)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"  # generation continues every row from its own last token
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForImageTextToText.from_pretrained(source, dtype=self.model_dtype)
        self.model = self.model.to(self.placement.device).eval()

    def warmup(self) -> None:
        self.answer([QuestionItem(warmup_image(), question=WARMUP_QUESTION, max_new_tokens=2)])

    def make_streamer(self, timeout_s: float) -> Any:
        """A streamer that yields the answer's text token by token (prompt and special tokens left out)."""
        return TokenStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout_s)

    # -- tasks ---------------------------------------------------------------------------------------
    def answer(self, items: list[QuestionItem]) -> list[str | Exception]:
        chats = [ChatItem([Turn("user", (item.image, item.question))], Sampling(max_new_tokens=item.max_new_tokens),
                         deadline=item.deadline) for item in items]
        return [answer if isinstance(answer, Exception) else answer.text.strip() for answer in self.chat(chats)]

    def chat(self, items: list[ChatItem]) -> list[ChatAnswer | Exception]:
        # A streamer takes one sequence: streamed items run alone (their own key), the rest share generate calls.
        return run_grouped(items, lambda item: (item.sampling, bool(item.images), id(item) if item.streamer else 0),
                           self._generate)

    # -- generation ----------------------------------------------------------------------------------
    def prompt(self, turns: Sequence[Turn]) -> str:
        """The conversation in the checkpoint's chat template; its text alone when it has no template."""
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": turn.role,
                         "content": [{"type": "image"} if isinstance(part, Image.Image)
                                     else {"type": "text", "text": part} for part in turn.parts]}
                        for turn in turns]
            text: str = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text
        return "\n".join(part for turn in turns for part in turn.parts if isinstance(part, str))

    def _inputs(self, items: list[ChatItem]) -> Any:
        kwargs: dict[str, Any] = {"text": [self.prompt(item.turns) for item in items], "padding": True,
                                  "return_tensors": "pt"}
        if items[0].images:
            kwargs["images"] = [item.images for item in items]
        inputs = self.processor(**kwargs)
        inputs.pop("labels", None)  # PaliGemma's processor adds training labels
        return self.to_model(inputs)

    def _generate_kwargs(self, items: list[ChatItem]) -> dict[str, Any]:
        sampling = items[0].sampling
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": not sampling.greedy,
                                  "stopping_criteria": StoppingCriteriaList([JobStop(items)])}
        if not sampling.greedy:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        if items[0].streamer is not None:
            kwargs["streamer"] = items[0].streamer
        return kwargs

    def _generate(self, items: list[ChatItem]) -> list[ChatAnswer | Exception]:
        import torch

        with self.stage("preprocess", len(items)):
            inputs = self._inputs(items)
            kwargs = self._generate_kwargs(items)
        with self.stage("forward", len(items)), torch.inference_mode():
            if items[0].sampling.seed is not None:
                torch.manual_seed(items[0].sampling.seed)
            tokens = self.model.generate(**inputs, **kwargs)
        with self.stage("postprocess", len(items)):
            prompt_length = inputs["input_ids"].shape[1]
            prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
            return [self._answer(item, row[prompt_length:].tolist(), int(count))
                    for item, row, count in zip(items, tokens, prompt_tokens, strict=True)]

    def _answer(self, item: ChatItem, generated: list[int], prompt_tokens: int) -> ChatAnswer | Exception:
        if item.timed_out and not item.cancel.is_set():
            return DeadlineExceeded(f"model {self.name} ran out of time generating this answer")
        ends = self._end_tokens()
        end = next((index for index, token in enumerate(generated) if token in ends), None)
        kept = generated if end is None else generated[:end]
        text, stopped = trim_at_stop(self.tokenizer.decode(kept, skip_special_tokens=True), item.sampling.stop)
        finish: FinishReason = "cancelled" if item.cancel.is_set() else (
            "stop" if stopped or end is not None else "length")
        return ChatAnswer(text=text, finish_reason=finish, prompt_tokens=prompt_tokens,
                          completion_tokens=len(kept) + (end is not None))

    def _end_tokens(self) -> set[int]:
        """End-of-sequence ids (one or several) and the padding that follows them in a batch."""
        config = self.model.generation_config
        ends = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
        return {token for token in [*ends, self.tokenizer.pad_token_id] if token is not None}


class TokenStreamer(TextIteratorStreamer):
    """Sends the text of every new token at once; transformers' own streamer waits for a space or a newline, which
    delays the first piece of an answer (and all of one in a language without spaces). Only an incomplete UTF-8
    character waits for its next bytes."""

    def put(self, value: Any) -> None:
        if len(value.shape) > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.tolist())
        text = str(self.tokenizer.decode(self.token_cache, **self.decode_kwargs))
        if text.endswith("\ufffd"):
            return
        piece = text[self.print_len:]
        if text.endswith("\n"):  # a finished line: decode the next one on its own, as transformers does
            self.token_cache, self.print_len = [], 0
        else:
            self.print_len = len(text)
        self.on_finalized_text(piece)


class JobStop(StoppingCriteria):
    """Stops each row of a batch whose item was cancelled or ran out of time."""

    def __init__(self, items: list[ChatItem]) -> None:
        self.items = items

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.tensor([item.should_stop() for item in self.items], dtype=torch.bool, device=input_ids.device)
