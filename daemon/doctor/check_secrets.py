"""Secret checks: Secrets that live outside the manifests, SealedSecrets that cannot decrypt
where they are rendered, and plaintext Secrets committed with the manifests.

Values are never printed: a finding names the Secret and the key, not what it holds.
"""

from __future__ import annotations

import re

from observer.daemon.config import BY_NAME
from observer.daemon.doctor.context import Collector, Context
from observer.daemon.doctor.expected import SECRET_OWNERS
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.pod import dig, key_of, ref, secret_key_field, secret_keys
from observer.daemon.doctor.render import Obj

_SEALED = "sealedsecrets.bitnami.com/"

#: Values people commit instead of a secret: changeme, <your-key>, REPLACE_ME, xxxx, ...
_PLACEHOLDER = re.compile(
    r"change.?me|change.?this|replace|placeholder|your[-_ ]|\byour\b|todo|fixme|example|"
    r"dummy|sample|^<.*>$|\$\{.*\}|^x{3,}$|^\*{3,}$|^\.{3}$|^(secret|password|passwd|token|"
    r"key|app.?key|app.?secret|test|none|null|tbd|default|admin)$",
    re.IGNORECASE,
)

#: What a placeholder in each secret does to the running daemon.
_PLACEHOLDER_EFFECT = {
    "KIS_APP_KEY": (Severity.CRITICAL, "KIS refuses the key, the daemon never gets an access "
                    "token and nothing is collected"),
    "KIS_APP_SECRET": (Severity.CRITICAL, "KIS refuses the secret, the daemon never gets an "
                       "access token and nothing is collected"),
    "DB_PASSWORD": (Severity.HIGH, "the database password is one anyone can guess"),
    "OBSERVER_CONTROL_TOKEN": (Severity.HIGH, "anyone who guesses the token can trigger "
                               "backups, retention and subscription changes"),
}  # fmt: skip


def is_placeholder(value: str | None) -> bool:
    return bool(value) and bool(_PLACEHOLDER.search(str(value).strip()))


def _consumers(ctx: Context, ns: str, name: str) -> list[tuple[Collector, list[str]]]:
    """Collectors that read Secret ``name`` and the variables they take from it."""
    out = []
    for col in ctx.collectors:
        if col.pod.namespace and ns and col.pod.namespace != ns:
            continue
        names = [k for k, v in col.env.values.items() if v.source == f"Secret/{name}"]
        if names or any(dig(s, "metadata", "name") == name for _, s in col.env.secrets_from):
            out.append((col, names))
    return out


def check_outside(ctx: Context) -> list[Finding]:
    """One INFO line per collector for the Secrets it references that the manifests lack."""
    out: list[Finding] = []
    for col in ctx.collectors:
        if not col.env.outside:
            continue
        optional = {v.secret_ref[1] for v in col.env.values.values()
                    if v.unknown and v.secret_ref and v.secret_ref[2]}  # fmt: skip
        parts = []
        for name, o in col.env.outside.items():
            keys = [*o.keys]
            if o.whole:
                owned = [k for k, s in SECRET_OWNERS.items() if s == name]
                keys += [k for k in col.assumed if not owned or k in owned]
            shown = ", ".join(f"{k} (optional)" if k in optional else k
                              for k in dict.fromkeys(keys)) or "any key, by envFrom"  # fmt: skip
            parts.append(f"{name} ({shown})")
        ns = col.pod.namespace
        many = len(parts) > 1
        out.append(Finding(
            Severity.INFO, col.obj,
            f"{col.field}.env" if many else next(iter(col.env.outside.values())).field,
            f"Secret{'s' if many else ''} not in these manifests (made by hand or by a "
            f"controller?): {'; '.join(parts)}. doctor cannot see {'them' if many else 'it'} "
            "and derives no failure from keys it cannot see.",
            f"create {'them' if many else 'it'}{f' in namespace {ns}' if ns else ''} with those "
            "keys before the pod starts (manifests/README.md, Secrets).",
        ))  # fmt: skip
    return out


def _scope(o: Obj) -> str:
    for md in (dig(o, "metadata", "annotations") or {},
               dig(o, "spec", "template", "metadata", "annotations") or {}):  # fmt: skip
        if str(md.get(_SEALED + "cluster-wide")).lower() == "true":
            return "cluster-wide"
        if str(md.get(_SEALED + "namespace-wide")).lower() == "true":
            return "namespace-wide"
    return "strict"


def broken_sealed(o: Obj) -> tuple[str, str, str] | None:
    """(field, sealed for, rendered as) when a SealedSecret cannot decrypt where it is."""
    if o.get("kind") != "SealedSecret":
        return None
    scope = _scope(o)
    ns, name = key_of(o)
    t_ns = str(dig(o, "spec", "template", "metadata", "namespace") or "")
    t_name = str(dig(o, "spec", "template", "metadata", "name") or "")
    if scope != "cluster-wide" and ns and t_ns and t_ns != ns:
        return "metadata.namespace", f"namespace {t_ns}", f"namespace {ns}"
    if scope == "strict" and t_name and t_name != name:
        return "metadata.name", f"the name {t_name}", f"{name}"
    return None


def check_sealed(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for o in ctx.secrets:
        bad = broken_sealed(o)
        if bad is None:
            continue
        at, sealed_for, rendered = bad
        ns, name = key_of(o)
        users = _consumers(ctx, ns, name)
        needs = sorted({k for _, names in users for k in names} or set(secret_keys(o)))
        who = ", ".join(sorted({c.obj for c, _ in users})) or "no collector"
        sev = Severity.CRITICAL if users else Severity.HIGH
        out.append(Finding(
            sev, ref(o), at,
            f"sealed for {sealed_for} (spec.template.metadata, {_scope(o)} scope) but rendered "
            f"as {rendered}: the controller cannot decrypt it and Secret {name} is never "
            f"created, so the keys {', '.join(needs)} that {who} needs are missing"
            + (" and its pod never starts (CreateContainerConfigError)." if users else "."),
            f"seal it again for {rendered if at == 'metadata.namespace' else 'the name ' + rendered} (kubectl create secret generic {name} -n "
            f"{ns or '<namespace>'} ... | kubeseal --format yaml; manifests/README.md, "
            "Secrets), or render it where it was sealed.",
            needs[0] if len(needs) == 1 else "",
        ))  # fmt: skip
    return out


def check_plaintext(ctx: Context) -> list[Finding]:
    """Secrets whose values are in the manifests: placeholders, and plain text in production."""
    out: list[Finding] = []
    for o in ctx.secrets:
        if o.get("kind") != "Secret":
            continue
        ns, name = key_of(o)
        users = _consumers(ctx, ns, name)
        if not users:
            continue
        values = secret_keys(o)
        read = {k for _, names in users for k in names}
        placeholders = 0
        for var in sorted(read):
            key = next((v.secret_ref[1] for c, _ in users for n, v in c.env.values.items()
                        if n == var and v.secret_ref), var)  # fmt: skip
            if var not in _PLACEHOLDER_EFFECT or not is_placeholder(values.get(key)):
                continue
            sev, effect = _PLACEHOLDER_EFFECT[var]
            placeholders += 1
            out.append(Finding(
                sev, ref(o), secret_key_field(o, key),
                f"{var} holds a placeholder, not a real value: {effect}.",
                f"put the real {var} into Secret {name}, sealed (kubectl create secret generic "
                f"{name} ... | kubeseal; manifests/README.md, Secrets), and drop this plain "
                "Secret from the manifests.",
                var,
            ))  # fmt: skip
        production = any(c.config is not None and c.config.app_env == "production"
                         for c, _ in users)  # fmt: skip
        secret_vars = sorted(k for k in read if BY_NAME.get(k) and BY_NAME[k].secret)
        if production and secret_vars and not placeholders:  # else the fix above says it
            out.append(Finding(
                Severity.HIGH, ref(o), "data",
                f"a plain Secret committed with the manifests of a production deployment "
                f"holds {', '.join(secret_vars)}: anyone who can read the repository reads "
                "them (base64 is an encoding, not encryption).",
                f"replace Secret {name} with a SealedSecret (kubeseal; manifests/README.md, "
                "Secrets) and rotate the values.",
            ))  # fmt: skip
    return out


def check_secrets(ctx: Context) -> list[Finding]:
    return check_outside(ctx) + check_sealed(ctx) + check_plaintext(ctx)
