"""AST subtree matching of responses against an API database: accuracy and hallucination.

`compat` reproduces the reference scorer exactly (0.20-series grammar, quirks included);
`strict` is our own, argument-by-argument definition. Never imports torch.
"""

from gorilla.scoring.score import MODES, FileScore, Scorer, Verdict

__all__ = ["MODES", "FileScore", "Scorer", "Verdict"]
