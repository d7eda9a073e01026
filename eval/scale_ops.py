"""Synthetic API operations for the scale benchmark: a user's catalogue of N REST-like operations.

Each operation is service x verb x resource x qualifier (e.g. billing `listInvoicesByCustomer`, "List the
invoices of a given customer, newest first."), with parameters, written as an API database record (the
fields `gorilla.data.ApiEntry` reads). A query for an operation is worded differently from its record
(other verbs, plural/singular, the service named in words), so retrieval has to match meaning, not copy
text. Everything is drawn from one seeded `random.Random`: the same N and seed give the same catalogue.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

SERVICES = {  # service -> domain (the record's task family)
    "billing": "Finance", "payments": "Finance", "ledger": "Finance", "payroll": "Finance", "tax": "Finance",
    "crm": "Sales", "quotes": "Sales", "leads": "Sales", "catalog": "Commerce", "orders": "Commerce",
    "inventory": "Commerce", "shipping": "Logistics", "fleet": "Logistics", "warehouse": "Logistics",
    "support": "Customer service", "chat": "Communication", "mail": "Communication", "sms": "Communication",
    "calendar": "Productivity", "docs": "Productivity", "storage": "Files", "media": "Files",
    "identity": "Security", "audit": "Security", "keys": "Security", "hr": "People", "recruiting": "People",
    "learning": "People", "projects": "Project management", "tasks": "Project management",
    "analytics": "Analytics", "reports": "Analytics", "monitoring": "Operations", "deploy": "Operations",
    "incidents": "Operations", "iot": "Devices", "maps": "Location", "weather": "Location",
    "marketing": "Marketing", "surveys": "Marketing",
}
RESOURCES = [
    "invoice", "payment", "refund", "customer", "order", "product", "shipment", "account", "user", "report",
    "subscription", "ticket", "message", "file", "folder", "project", "task", "comment", "contract", "quote",
    "lead", "opportunity", "campaign", "survey", "response", "device", "sensor", "reading", "alert", "incident",
    "deployment", "build", "release", "repository", "branch", "employee", "candidate", "interview", "course",
    "enrollment", "event", "meeting", "room", "booking", "vehicle", "route", "driver", "warehouse", "package",
    "label", "coupon", "discount", "cart", "review", "rating", "category", "tag", "note", "attachment",
    "webhook", "token", "role", "permission", "group", "team", "budget", "expense", "receipt", "vendor",
    "supplier", "purchase order", "asset", "license", "certificate", "policy", "claim", "appointment",
    "prescription", "patient", "document", "template", "signature", "dashboard", "metric", "log entry",
    "backup", "snapshot", "volume", "cluster", "node", "job", "schedule", "shift", "timesheet", "holiday",
    "goal", "milestone", "sprint", "epic", "playlist", "track", "album", "video", "image", "forecast",
]
VERBS = {  # verb -> (description template, query wordings); {r}/{rs}: resource, plural
    "list": ("List the {rs}", ("show me all {rs}", "which {rs} are there", "get every {r}")),
    "get": ("Get one {r} by its id", ("look up a {r}", "fetch the details of a {r}", "read a single {r}")),
    "create": ("Create a new {r}", ("add a {r}", "make a new {r}", "register a {r}")),
    "update": ("Update the fields of a {r}", ("change a {r}", "edit a {r}", "modify a {r}")),
    "delete": ("Delete a {r} permanently", ("remove a {r}", "erase a {r}", "get rid of a {r}")),
    "search": ("Search {rs} by free text", ("find {rs} matching some words", "look for {rs}", "query {rs} by keyword")),
    "export": ("Export {rs} as a CSV file", ("download {rs} as a spreadsheet", "dump {rs} to csv", "save {rs} to a file")),
    "import": ("Import {rs} from an uploaded file", ("bulk load {rs} from a file", "upload many {rs} at once",
                                                     "load {rs} from a csv")),
    "archive": ("Archive a {r} so it is hidden but kept", ("hide an old {r}", "put a {r} away", "archive a {r}")),
    "restore": ("Restore an archived {r}", ("bring back an archived {r}", "unarchive a {r}", "recover a {r}")),
    "approve": ("Approve a pending {r}", ("sign off on a {r}", "accept a {r}", "give approval to a {r}")),
    "cancel": ("Cancel a {r} that is in progress", ("stop a {r}", "call off a {r}", "abort a {r}")),
    "count": ("Count the {rs}", ("how many {rs} are there", "number of {rs}", "total count of {rs}")),
    "assign": ("Assign a {r} to a user", ("give a {r} to someone", "hand a {r} over to a colleague",
                                          "set the owner of a {r}")),
    "share": ("Share a {r} with other users", ("let others see a {r}", "give access to a {r}", "share a {r}")),
    "duplicate": ("Make a copy of a {r}", ("clone a {r}", "copy a {r}", "duplicate a {r}")),
    "validate": ("Check that a {r} is valid before saving it", ("verify a {r}", "check a {r} for errors",
                                                                "validate a {r}")),
    "subscribe": ("Subscribe to changes of a {r}", ("get notified when a {r} changes", "watch a {r}",
                                                    "follow updates to a {r}")),
}
QUALIFIERS = {  # suffix -> (description phrase, query phrase, parameter)
    "": ("", "", None),
    "ByCustomer": (" of a given customer", " for one customer", "customer_id"),
    "ByDate": (" created within a date range", " between two dates", "date_range"),
    "ByStatus": (" that have a given status", " with a certain status", "status"),
    "ForProject": (" of one project", " in a project", "project_id"),
    "ForTeam": (" belonging to a team", " owned by a team", "team_id"),
    "ByOwner": (" owned by a user", " that a person owns", "owner_id"),
    "InRegion": (" in one region", " located in a region", "region"),
    "ByTag": (" labelled with a tag", " carrying a tag", "tag"),
    "Recent": (" changed in the last days", " updated recently", "days"),
    "Overdue": (" past the due date", " overdue", None),
    "InBulk": (" many at once", " in a batch", "ids"),
}
TAILS = ["", "", "", "; needs the admin role", "; rate limited to 10 calls per second", "; idempotent"]
MANY_TAILS = [", newest first", ", paginated with a cursor", ", including archived ones"]
SINGLE_TAILS = ["; returns 404 if it does not exist", "; the change is logged in the audit trail"]


@dataclass(frozen=True)
class Operation:
    """One synthetic operation: its database record and a request for it worded differently."""

    record: dict[str, Any]
    query: str


def camel(*words: str) -> str:
    """`list`, `purchase order`, `ByCustomer` -> listPurchaseOrdersByCustomer-style identifiers."""
    parts = " ".join(words).split()
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else \
        noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def article(text: str) -> str:
    """`a invoice` -> `an invoice` (the templates write `a` before every noun)."""
    return re.sub(r"\b([Aa]) (?=[aeio])", r"\1n ", text)


def operation(service: str, verb: str, resource: str, qualifier: str, rng: random.Random) -> Operation:
    """The record and query for one combination; the tail and the query wording come from `rng`."""
    template, wordings = VERBS[verb]
    phrase, query_phrase, param = QUALIFIERS[qualifier]
    many = verb in ("list", "search", "export", "import", "count") or qualifier == "InBulk"
    noun = plural(resource) if many else resource
    name = camel(verb, noun, qualifier)
    params = (["id"] if not many and verb != "create" else []) + ([param] if param else []) + \
        (["limit", "cursor"] if verb == "list" else ["body"] if verb in ("create", "update") else [])
    tail = rng.choice(TAILS + (MANY_TAILS if many else SINGLE_TAILS))
    description = article(template.format(r=resource, rs=plural(resource)) + phrase + tail + ".")
    record = {"domain": SERVICES[service], "framework": service, "functionality": f"{verb} {noun}",
              "api_name": name, "api_call": f"{service}.{name}({', '.join(params)})",
              "api_arguments": {p: "string" for p in params}, "description": description}
    query = article(f"{rng.choice(wordings).format(r=resource, rs=plural(resource))}{query_phrase} in {service}")
    return Operation(record, query)


def catalogue(n: int, seed: int = 0) -> list[Operation]:
    """`n` distinct operations (distinct api_call), drawn without replacement from every combination."""
    services, verbs, quals = list(SERVICES), list(VERBS), list(QUALIFIERS)
    sizes = (len(services), len(verbs), len(RESOURCES), len(quals))
    total = sizes[0] * sizes[1] * sizes[2] * sizes[3]
    if not 0 < n <= total:
        raise ValueError(f"n must be between 1 and {total}, got {n}")
    rng = random.Random(seed)
    ops = []
    for code in rng.sample(range(total), n):
        code, q = divmod(code, sizes[3])
        code, r = divmod(code, sizes[2])
        s, v = divmod(code, sizes[1])
        ops.append(operation(services[s], verbs[v], RESOURCES[r], quals[q], rng))
    return ops
