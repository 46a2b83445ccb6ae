"""``r2d serve``: start the playground on uvicorn (:func:`r2d.serve.app.create_app`), bound to 127.0.0.1 unless
``--host`` says otherwise. A tokenizer or model that fails to load stops the command before anything is served.
"""

from __future__ import annotations

import gc
import ipaddress
import logging

from r2d.cli.common import ArgumentParser, fail

PROG = "r2d serve"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(
        prog=PROG,
        description="Start the r2d playground: a local web page where typed text shows as 2D tokens (one chip per "
                    "word: its root and a coloured badge per flag) beside RoBERTa's tokens, with counts, the "
                    "round-trip check and the raw ids + flag matrix; with --model, a panel that streams generated "
                    "words. Everything is served from this machine (no CDN); the page's JSON API (/api/tokenize, "
                    "/api/decode, /api/generate) can be used with curl too.",
        example="r2d serve\n"
                "  r2d serve --tokenizer r2d-en --tokenizer runs/tok --model runs/clm/model --port 8080\n"
                "  then open http://127.0.0.1:8000/?text=I+enjoyed+riding",
    )
    ap.add_argument("--tokenizer", action="append", metavar="NAME_OR_DIR",
                    help="a tokenizer to offer: 'r2d-en' (bundled) or a saved folder; repeat for several "
                         "(default: r2d-en); the first is the page's default")
    ap.add_argument("--model", action="append", metavar="DIR", default=[],
                    help="a causal model folder (model + its tokenizer, as save_pretrained wrote them) for the "
                         "generation panel; repeat for several")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    ap.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    ap.add_argument("--max-text-bytes", type=int, default=1_000_000, metavar="N",
                    help="largest text a request may send, in UTF-8 bytes; larger ones get 413 (default 1000000)")
    ap.add_argument("--max-new-tokens", type=int, default=512, metavar="N",
                    help="cap on the tokens one generation may ask for (default 512)")
    ap.add_argument("--device", default="auto",
                    help="where the --model models run: auto (a CUDA GPU, else Apple's MPS, else the CPU), cpu, cuda, "
                         "cuda:1, mps (default auto)")
    ap.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return fail(PROG, f"--port {args.port}: must be between 0 and 65535")
    if args.max_text_bytes < 1 or args.max_new_tokens < 1:
        return fail(PROG, "--max-text-bytes and --max-new-tokens must be positive")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    from r2d.serve.app import LOOPBACK_HOSTS, create_app
    from r2d.serve.models import ModelLoadError, load_model
    from r2d.tokenizer.loading import load_tokenizer

    tokenizers = {}
    for name in args.tokenizer or ["r2d-en"]:
        try:
            tokenizers[name] = load_tokenizer(name, r2d=True)
        except (FileNotFoundError, ValueError, OSError) as err:
            return fail(PROG, f"--tokenizer {name}: {err}")
    models = {}
    for path in args.model:
        try:
            models[path] = load_model(path, device=args.device)
        except ModelLoadError as err:
            return fail(PROG, f"--model {err}")
    # subtle: the server process is ours, so its long-lived objects (tokenizer caches, models: millions) move to
    # the collector's permanent generation once, instead of a library call switching the GC off behind its caller
    gc.collect()
    gc.freeze()
    loopback = _is_loopback(args.host)
    app = create_app(tokenizers=tokenizers, models=models, max_text_bytes=args.max_text_bytes,
                     max_new_tokens=args.max_new_tokens, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"r2d serve: http://{shown}:{args.port}/  tokenizers: {', '.join(tokenizers)}; "
          f"models: {', '.join(models) or 'none'}. Ctrl+C stops.")
    if not loopback:
        print(f"r2d serve: warning: bound to {args.host}: anyone who can reach this machine can use the page")

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
