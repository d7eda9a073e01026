"""The typer apps every command module registers into, and the options they share.

Command modules (`gorilla/cli/<concern>.py`) import from here, never from each other;
`gorilla/cli/main.py` imports them all. Heavy libraries are imported inside commands.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gorilla.pipeline import DEFAULT_K, DEFAULT_MAX_NEW_TOKENS, PipelineConfig

if TYPE_CHECKING:
    from gorilla.data import Hub

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="gorilla",
    help="Type what you want, get one real API call (TorchHub, TF Hub, Hugging Face, or your own APIs).\n\n"
    "Example: gorilla query \"classify bird species in my photos\"",
    no_args_is_help=True,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="APIBench data: locate, inspect, download.\n\nExample: gorilla data info",
                       no_args_is_help=True, context_settings=CONTEXT)
eval_app = typer.Typer(help="Score responses and benchmark retrievers.\n\n"
                       "Example: gorilla eval score out/th.jsonl --hub torchhub",
                       no_args_is_help=True, context_settings=CONTEXT)
index_app = typer.Typer(help="Build and fine-tune retrieval indexes.\n\nExample: gorilla index build --hub all",
                        no_args_is_help=True, context_settings=CONTEXT)
apibench_app = typer.Typer(help="Build APIBench from hub docs.\n\n"
                           "Example: gorilla apibench build --hub torchhub --docs ../shared/docs/torchhub --out build/torchhub "
                           "--no-instructions",
                           no_args_is_help=True, context_settings=CONTEXT)
hub_app = typer.Typer(help="Hubs: the three APIBench ones and your own APIs (a name + an API database).\n\n"
                      "Example: gorilla hub add zoo ../shared/docs/apizoo --keep-going && gorilla query \"send an email\" --hub zoo",
                      no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(data_app, name="data")
app.add_typer(hub_app, name="hub")
app.add_typer(eval_app, name="eval")
app.add_typer(index_app, name="index")
app.add_typer(apibench_app, name="apibench")



def package_version() -> str:
    """The installed distribution's version (what pip put there), else the source tree's gorilla.__version__
    (a checkout run without installing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gorilla-apibench")
    except PackageNotFoundError:
        import gorilla

        return gorilla.__version__


def _print_version(value: bool) -> None:
    """Eager --version: print and stop before any command runs (or is even required)."""
    if value:
        print(f"gorilla {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Show the installed version and exit.",
                                                is_eager=True, callback=_print_version)] = False) -> None:
    """Type what you want, get one real API call (TorchHub, TF Hub, Hugging Face)."""


DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="APIBench root (default: $GORILLA_DATA, ../shared/apibench, or the user cache).",
                 show_default=False),
]
OneHubOpt = Annotated[str, typer.Option("--hub", help="torchhub, tensorflowhub, huggingface, or a hub you added "
                                                      "(gorilla hub list).")]
MaybeHubOpt = Annotated[str | None, typer.Option("--hub", help="torchhub, tensorflowhub, huggingface, or a hub you "
                                                               "added (gorilla hub list); or give --api-db.",
                                                 show_default=False)]
HubOrAllOpt = Annotated[str, typer.Option("--hub", help="torchhub, tensorflowhub, huggingface, a hub you added "
                                                        "(gorilla hub list), or all (every one of them).")]
ApiDbOpt = Annotated[Path | None, typer.Option("--api-db", help="An API database file (JSON lines, upstream's "
                                               "schema) to use as a hub without adding it; instead of --hub.",
                                               show_default=False)]


def one_hub(hub: str | None, api_db: Path | None, data_dir: Path | None) -> Hub:
    """The hub of --hub or --api-db (exactly one of them): a one-line error otherwise."""
    from gorilla.data import adhoc_hub, get_hub
    from gorilla.errors import GorillaError

    if (hub is None) == (api_db is None):
        raise GorillaError("give --hub NAME or --api-db FILE (one of them)")
    return adhoc_hub(api_db) if api_db is not None else get_hub(hub, data_dir)


def option(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """One typer option of an option set: the parameter `name` with its Annotated type and default."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def option_set(name: str, options: Sequence[inspect.Parameter], build: Callable[..., Any]) -> Callable[[F], F]:
    """Decorator: the command's parameter `name` stands for `options`, which typer shows in its place (help order
    is kept); the command receives `build(**their values)` as `name`.

    Why: commands that share a group of flags (the pipeline's, the retriever's) declare it once, here or in their
    module, instead of repeating a dozen parameters that must stay identical; `build` is the one place the group
    becomes a library object. Put `@app.command(...)` outermost.
    """
    def decorate(command: F) -> F:
        """`command` with `name` replaced by `options` in the signature typer reads."""
        signature = inspect.signature(command, eval_str=True)
        if name not in signature.parameters:
            raise TypeError(f"{command.__name__} has no parameter {name!r} for its option set")
        params = [q for p in signature.parameters.values() for q in (options if p.name == name else [p])]
        own = [p.name for p in options]

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            """What typer calls: the group's values are gathered into one built value."""
            group = {key: values.pop(key) for key in own}
            return command(**values, **{name: build(**group)})

        # keyword-only: a spliced option may follow one with a default; typer passes keywords anyway
        run.__signature__ = signature.replace(parameters=[p.replace(kind=p.KEYWORD_ONLY) for p in params])
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run  # type: ignore[return-value]

    return decorate


# ---- the pipeline's options (query, generate, serve) -----------------------------------------------------------

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="embedded, an HF id or dir, a .gguf file, an adapter dir; "
                                                             "with --backend openai, the endpoint's model name.")]
BackendOpt = Annotated[str, typer.Option(help="local (transformers here) or openai (an OpenAI-compatible endpoint).")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="With --backend openai: the endpoint, e.g. http://host:8000/v1.")]
# --api-key for query and generate; serve guards itself with --api-key, so its endpoint key is --backend-api-key
EndpointKeyOpt = Annotated[str | None, typer.Option(help="With --backend openai: its key (default: $OPENAI_API_KEY).",
                                                    show_default=False)]
ApiModeOpt = Annotated[str, typer.Option(help="With --backend openai: chat (/chat/completions, system prompt + "
                                              "the Gorilla prompt) or completions (/completions, the raw prompt; "
                                              "for base and fine-tuned models).")]
GuidedOpt = Annotated[str, typer.Option(help="With --backend openai: off, vllm (structured-outputs regex enforces "
                                             "--constrain) or vllm-legacy (guided_regex, vLLM < 0.12).")]
PipelineRetrieverOpt = Annotated[str, typer.Option("--retriever", "-r", help="best (= fusion), bm25, dense, hybrid, "
                                                   "examples, fusion, or none (0-shot).")]
ConstrainOpt = Annotated[str, typer.Option(help="retrieved: api_call is one of the retrieved calls; db: one of the "
                                                "hub's API database; off: free text; auto: retrieved, or off with "
                                                "--backend openai unless --guided.")]
KOpt = Annotated[int, typer.Option("-k", help="Documents put in the prompt (1 measured best for the embedded model).")]
MaxNewOpt = Annotated[int, typer.Option(help="Most new tokens per answer (constrained answers always get room for "
                                             "the call).")]
# serve: the same options, worded for a server's requests
ServeKOpt = Annotated[int, typer.Option("-k", help="Documents put in the prompt.")]
ServeMaxNewOpt = Annotated[int, typer.Option(help="Tokens per answer when a request gives no max_tokens.")]


@dataclass(frozen=True)
class PipelineOptions:
    """The pipeline's flags as given; `config` checks them into the PipelineConfig the library runs on."""

    model: str
    backend: str
    base_url: str | None
    api_key: str | None
    guided: str
    retriever: str
    k: int
    constrain: str
    max_new_tokens: int
    api_mode: str = "chat"

    def config(self, hub: str, data_dir: Path | None, api_db: Path | None = None) -> PipelineConfig:
        """The PipelineConfig for `hub` (or the database `api_db`); bad values (hub, constrain, k, ...) are one-line
        GorillaErrors here."""
        return PipelineConfig(hub=hub, data_dir=str(data_dir) if data_dir else None,
                              api_db=str(api_db) if api_db else None, **asdict(self))


def _served(backend_api_key: str | None, **flags: Any) -> PipelineOptions:
    """serve's flags: its own --api-key guards the server, so the endpoint's key arrives as --backend-api-key."""
    return PipelineOptions(api_key=backend_api_key, **flags)


def pipeline_options(*, serving: bool = False) -> Callable[[F], F]:
    """The command's `pipeline: PipelineOptions` parameter becomes the pipeline's flags, in this order.

    `serving` (gorilla serve): the endpoint key is --backend-api-key, --api-mode is offered (a server may front
    a base model's /completions), and -k / --max-new-tokens are worded for requests.
    """
    key = option("backend_api_key" if serving else "api_key", EndpointKeyOpt, None)
    options = [option("model", ModelOpt, "embedded"), option("backend", BackendOpt, "local"),
               option("base_url", BaseUrlOpt, None), key, *([option("api_mode", ApiModeOpt, "chat")] if serving else []),
               option("guided", GuidedOpt, "off"), option("retriever", PipelineRetrieverOpt, "best"),
               option("k", ServeKOpt if serving else KOpt, DEFAULT_K), option("constrain", ConstrainOpt, "auto"),
               option("max_new_tokens", ServeMaxNewOpt if serving else MaxNewOpt, DEFAULT_MAX_NEW_TOKENS)]
    return option_set("pipeline", options, _served if serving else PipelineOptions)


def progress_bar(label: str, unit: str, scale: float = 1.0) -> tuple[Any, Callable[[int, int], None]]:
    """(bar, update): a rich bar with count, rate and ETA; `update(done, total)` starts it on first use, and a
    first `done` above 0 (a resumed job) is where the rate starts counting."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False)
    task = bar.add_task(label, total=None, rate="")

    def update(done: int, total: int) -> None:
        """Start on the first call (so a resumed job's rate counts from there), then advance."""
        if not bar.live.is_started:
            bar.start()
            bar.reset(task, total=total, completed=done, rate="")
            return
        bar.update(task, completed=done, total=total)
        speed = bar.tasks[0].speed
        bar.update(task, rate=f"{speed * scale:.2f} {unit}" if speed else "")

    return bar, update
