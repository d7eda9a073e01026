"""Hugging Face model cards (`<org>/<name>/README.md` with YAML front matter) -> API records.

The front matter says what the model does (`pipeline_tag`), which library loads it (`library_name`),
and on what it was trained and measured (`datasets`, `metrics`, `model-index`). The load call is the
one that library documents: `pipeline(task, model=id)` for transformers, `SentenceTransformer(id)`,
`DiffusionPipeline.from_pretrained(id)`, and so on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gorilla.apibench import source

# pipeline_tag -> upstream's domain prefix
_MODALITY = {
    "Multimodal": ("feature-extraction", "image-to-text", "text-to-image", "visual-question-answering", "document-question-answering",
                   "image-text-to-text", "text-to-video", "graph-machine-learning"),
    "Computer Vision": ("image-classification", "object-detection", "image-segmentation", "depth-estimation",
                        "image-to-image", "unconditional-image-generation", "video-classification", "zero-shot-image-classification",
                        "mask-generation", "zero-shot-object-detection"),
    "Audio": ("automatic-speech-recognition", "audio-classification", "text-to-speech", "audio-to-audio",
              "voice-activity-detection", "text-to-audio"),
    "Tabular": ("tabular-classification", "tabular-regression"),
    "Reinforcement Learning": ("reinforcement-learning", "robotics"),
}
_NON_PIPELINE = {"feature-extraction": "AutoModel", "fill-mask": "AutoModelForMaskedLM"}
_LIBRARY_CALL = {
    "sentence-transformers": "SentenceTransformer({id!r})",
    "diffusers": "DiffusionPipeline.from_pretrained({id!r})",
    "timm": "timm.create_model({id!r}, pretrained=True)",
    "peft": "PeftModel.from_pretrained(base_model, {id!r})",
    "keras": "from_pretrained_keras({id!r})",
    "spacy": "spacy.load({id!r})",
    "stable-baselines3": "load_from_hub(repo_id={id!r}, filename='model.zip')",
}


def files(docs: Path) -> list[Path]:
    """The model cards under `docs` (`<org>/<name>/README.md`, or any .md directly in it), in a stable order."""
    if docs.is_file():
        return [docs]
    return sorted(p for p in docs.rglob("*.md") if p.name.lower() in ("readme.md", "modelcard.md") or p.parent == docs)


def model_id(path: Path, meta: dict[str, Any]) -> str:
    """`org/name` from the card's folders (`.../org/name/README.md`), or `model_id:` in the front matter."""
    if isinstance(meta.get("model_id"), str):
        return meta["model_id"]
    parts = path.parent.parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else path.stem


def domain_of(tag: str) -> str:
    """Upstream's domain, `<modality> <Task>` (`Computer Vision Image Classification`), from the pipeline tag."""
    modality = next((m for m, tags in _MODALITY.items() if tag in tags), "Natural Language Processing")
    return f"{modality} {tag.replace('-', ' ').title()}" if tag else modality


def api_call_of(mid: str, library: str, tag: str) -> str:
    """The load call the model's library documents: a pipeline for transformers tasks, else the library's loader."""
    if library in _LIBRARY_CALL:
        return _LIBRARY_CALL[library].format(id=mid)
    if tag in _NON_PIPELINE:
        return f"{_NON_PIPELINE[tag]}.from_pretrained({mid!r})"
    if tag:
        return f"pipeline({tag!r}, model={mid!r})"
    return f"AutoModel.from_pretrained({mid!r})"


def _as_list(value: Any) -> list[str]:
    """A front-matter field that may be one value or a list, as a list of strings."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _performance(meta: dict[str, Any]) -> dict[str, Any]:
    """The first model-index result (dataset and metric values), else the declared datasets and metrics."""
    try:
        result = meta["model-index"][0]["results"][0]
        metrics = {m.get("name") or m["type"]: m["value"] for m in result.get("metrics", [])}
        return {"dataset": result.get("dataset", {}).get("name", ""), "accuracy": metrics}
    except (KeyError, IndexError, TypeError):
        return {"dataset": ", ".join(_as_list(meta.get("datasets"))), "accuracy": ", ".join(_as_list(meta.get("metrics")))}


def parse_file(path: Path) -> source.ParsedFile:
    """The card's one record; a card without front matter, or with a non-string tag or library, is an error."""
    text = source.read_text(path)
    meta, body_line = source.front_matter(text, path)
    out = source.ParsedFile(str(path))
    if not meta:
        raise source.SourceError(path, 1, 1, "model card has no YAML front matter (expected '---' with pipeline_tag, library_name)")
    tag = str(meta.get("pipeline_tag") or "")
    library = str(meta.get("library_name") or "transformers")
    for key in ("pipeline_tag", "library_name"):
        if key in meta and not isinstance(meta[key], str):
            raise source.SourceError(path, _line_of(text, key), 1, f"{key}: expected a string, got {type(meta[key]).__name__}")
    mid = model_id(path, meta)
    body = text.split("\n", body_line)[-1] if body_line > 1 else text
    example = next((b.code.strip() for b in source.code_blocks(text) if b.lang in ("python", "py")), "")
    record = {
        "domain": domain_of(tag),
        "framework": "Hugging Face " + {"transformers": "Transformers"}.get(library, library),
        "functionality": tag.replace("-", " ").title() if tag else "Model",
        "api_name": mid,
        "api_call": api_call_of(mid, library, tag),
        "api_arguments": {"model": mid} if library == "transformers" and tag else [],
        "python_environment_requirements": [library] + (["torch"] if library in ("transformers", "diffusers") else []),
        "example_code": example,
        "performance": _performance(meta),
        "description": source.first_paragraph(body),
    }
    out.found.append(source.Found(record, str(path), 1, 1))
    return out


def _line_of(text: str, key: str) -> int:
    """The line a front-matter key is on, to locate its error (1 when not found)."""
    return next((i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith(f"{key}:")), 1)
