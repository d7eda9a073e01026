"""Which upstream API calls a built database reproduces, which it misses, and what it adds.

Calls are compared by identity, not spelling: TorchHub by `repo:model` (repo lower-cased, `:tag`
dropped), TF Hub by the tfhub.dev handle, anything else by the normalised call. An upstream TorchHub
call that names no model (`torch.hub.load(repo_or_dir='pytorch/fairseq')`) is reproduced by any
built call on that repo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.calls import call_key
from gorilla.data import HUBS, read_jsonl
from gorilla.errors import InputError


@dataclass
class Diff:
    """Upstream's distinct calls (by `call_key`) sorted into reproduced, missing and unparsed; ours into extra."""

    hub: str
    upstream: int  # distinct upstream calls
    reproduced: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)  # upstream calls that are not one Python call

    @property
    def coverage(self) -> float:
        """Share of upstream's distinct calls the build reproduces."""
        return len(self.reproduced) / self.upstream if self.upstream else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON (`--json`): counts, and the lists worth reading (missing, unparsed)."""
        return {"hub": self.hub, "upstream_distinct": self.upstream, "reproduced": len(self.reproduced),
                "coverage": round(self.coverage, 4), "missing": self.missing, "extra_count": len(self.extra),
                "unparsed_upstream": self.unparsed}


def guess_hub(path: Path) -> str:
    """The hub from a file name (`torchhub_api.jsonl`), or from the calls inside."""
    name = path.name.lower()
    for hub in HUBS:
        if hub in name:
            return hub
    calls = " ".join(obj.get("api_call", "") for _, obj in read_jsonl(path))
    return "torchhub" if "torch.hub.load" in calls else "tensorflowhub" if "tfhub.dev" in calls else "other"


def keys(path: Path, hub: str, only: set[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """{key: first api_call with it}, and the calls that do not parse; `only` keeps handles listed in it."""
    out: dict[str, str] = {}
    bad: list[str] = []
    for line, obj in read_jsonl(path):
        call = obj.get("api_call")
        if not isinstance(call, str):
            raise InputError(path, "missing or not a string", line, "api_call")
        key = call_key(call)
        if key is None:
            bad.append(call)
        elif only is None or key in only:
            out.setdefault(key, call)
    return out, bad


def diff(built: Path, upstream: Path, hub: str | None = None, restrict_to_built_docs: set[str] | None = None) -> Diff:
    """Compare two API databases. `restrict_to_built_docs` limits upstream to these keys (handles whose page we have)."""
    hub = hub or guess_hub(upstream)
    ours, _ = keys(built, hub)
    theirs, bad = keys(upstream, hub, restrict_to_built_docs)
    repos = {k.split(":")[0] for k in ours} if hub == "torchhub" else set()
    d = Diff(hub, len(theirs), unparsed=bad)
    matched: set[str] = set()
    for key in sorted(theirs):
        if key in ours:
            d.reproduced.append(key)
            matched.add(key)
        elif hub == "torchhub" and key.endswith(":") and key[:-1] in repos:
            d.reproduced.append(key)
            matched |= {k for k in ours if k.startswith(key)}
        else:
            d.missing.append(key)
    d.extra = sorted(k for k in ours if k not in matched)
    return d


def render(d: Diff, show_extra: int = 20) -> str:
    """The diff for a terminal: the headline figure, then what is missing and the first extra calls."""
    lines = [f"{d.hub}: reproduced {len(d.reproduced)}/{d.upstream} distinct upstream calls ({d.coverage:.1%}); "
             f"{len(d.extra)} extra in the build"]
    if d.unparsed:
        lines.append(f"upstream calls that are not one Python call ({len(d.unparsed)}): " + "; ".join(d.unparsed[:5]))
    lines += ["missing:"] + [f"  - {k}" for k in d.missing] if d.missing else ["missing: none"]
    if d.extra:
        lines += [f"extra (first {min(show_extra, len(d.extra))} of {len(d.extra)}):"] + [f"  + {k}" for k in d.extra[:show_extra]]
    return "\n".join(lines)
