"""``cloudbrain tls init|show``: the certificate a server shows to other machines."""

from __future__ import annotations

from pathlib import Path

import typer

from cloudbrain.cli.options import Home, Json, settings
from cloudbrain.cli.output import console, emit, fail
from cloudbrain.errors import CloudBrainError

app = typer.Typer(
    help="TLS for a server other machines reach: a private CA and the server's certificate.",
    no_args_is_help=True,
)


@app.command("init")
def init(
    names: list[str] = typer.Option(
        None,
        "--name",
        help="A name or address other machines use for this server (repeat the flag): "
        "laptop.local, 192.168.1.10 … Default: this machine's host name, NAME.local and the "
        "addresses it resolves to. localhost and the loopback addresses are always added.",
        show_default=False,
    ),
    port: int = typer.Option(
        None,
        "--port",
        min=1,
        max=65535,
        help="The WebSocket port, for the URL printed (default: 8766).",
        show_default=False,
    ),
    home: Path = Home,
    as_json: bool = Json,
) -> None:
    """Make a private CA and a certificate for this server, under HOME/tls.

    `cloudbrain server` then uses it for all its listeners (wss://, https://, SMTP
    STARTTLS). Copy ca.pem to each other machine and log in there with it. Running it again
    keeps the CA, so machines that trust it need nothing new, and makes a new certificate:
    that is how names are added.
    """
    from cloudbrain.certificates import LOCAL_NAMES, certificate_names_for, make_server_files

    config = settings(home, port=port)
    chosen = certificate_names_for(names or [])
    try:
        made = make_server_files(config.home, chosen)
    except CloudBrainError as exc:
        fail(exc, as_json)
    first = next((n for n in chosen if n not in LOCAL_NAMES), chosen[0])
    url = f"wss://{first}:{config.port}"
    found = {
        "ca": str(made.ca),
        "cert": str(made.cert),
        "key": str(made.key),
        "fingerprint": made.fingerprint,
        "names": list(made.names),
        "new_ca": made.new_ca,
        "url": url,
    }

    def render() -> None:
        console.print(
            f"{'made a new CA' if made.new_ca else 'kept the CA'} [bold]{made.ca}[/]\n"
            f"server certificate [bold]{made.cert}[/] for {', '.join(made.names)}\n"
            f"fingerprint {made.fingerprint}\n\n"
            "Next:\n"
            "  1. start the server for the LAN: cloudbrain server --host 0.0.0.0\n"
            f"  2. copy {made.ca} to the other machine, then there:\n"
            f"     cloudbrain login {url} --name NAME --ca ca.pem\n"
            f"     (or, without the file: --pin {made.fingerprint})",
            highlight=False,
            soft_wrap=True,  # a fingerprint cut in two cannot be pasted
        )

    emit(found, as_json, render)


@app.command("show")
def show(home: Path = Home, as_json: bool = Json) -> None:
    """Show the certificate the server uses: its files, names and fingerprint."""
    from cloudbrain.certificates import certificate_fingerprint, certificate_names

    config = settings(home)
    cert, key = config.tls_files
    if not cert:
        fail(
            CloudBrainError(
                "this server has no certificate", hint="make one with `cloudbrain tls init`"
            ),
            as_json,
        )
    try:
        found = {
            "cert": cert,
            "key": key,
            "fingerprint": certificate_fingerprint(Path(cert)),
            "names": certificate_names(Path(cert)),
        }
    except (OSError, ValueError) as exc:
        fail(CloudBrainError(f"cannot read {cert}: {exc}", hint="check --tls-cert"), as_json)
    emit(
        found,
        as_json,
        lambda: console.print(
            f"certificate {cert}\nnames {', '.join(found['names'])}\n"
            f"fingerprint {found['fingerprint']}",
            highlight=False,
        ),
    )
