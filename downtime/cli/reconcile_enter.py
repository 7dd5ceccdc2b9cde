"""`downtime reconcile enter`: back-entry in the terminal (docs/back-entry-tui.md). The clerk
unlocks with the HIM identity of [reconcile], scans a page's QR code (or types its form id)
and types what was handwritten; every line goes into the episode's journal."""

from __future__ import annotations

import click


@click.command("enter")
@click.option("--episode", "episode_id", metavar="ID",
              help="The episode (default: the open one).")
@click.option("--viewer", metavar="COMMAND",
              help="The program F6 hands a scanned page to (default: xdg-open).")
@click.option("--idle-lock-minutes", type=float, help="Lock after this long idle (default: "
              "[thresholds] idle_lock_minutes).")
@click.pass_context
def enter_cmd(ctx: click.Context, episode_id: str | None, viewer: str | None,
              idle_lock_minutes: float | None) -> None:
    """Back-enter paper pages: scan a page's QR (or type its form id), type its lines (MAR,
    orders, vitals, notes, registrations), correct them, mark the page done, and index the
    pages no code named."""
    import shlex

    from reconcile.episode import episode_dir, load_episode
    from snapshots.keys import KeyFileError

    from ..tui.enter_app import make_enter_app
    from .reconcile import _recipients, _settings, _who

    config = ctx.obj.config.with_thresholds(idle_lock_minutes=idle_lock_minutes)
    settings = _settings(config)
    # before the screen takes the terminal: a station set up wrong is told so in one line
    if not settings.identity.is_file():
        raise KeyFileError(f"{settings.identity}: no identity file here ([reconcile] "
                           "identity)")
    episode_dir(settings.folder, episode_id)
    _episode_for_identity = _opener(config, settings, episode_id, load_episode, _recipients,
                                    _who)
    app = make_enter_app(config, _episode_for_identity,
                         viewer=shlex.split(viewer) if viewer else None)
    _probe_terminal_images()
    app.run()


def _opener(config, settings, episode_id, load_episode, recipients, who):  # noqa: ANN001, ANN202
    def open_episode(user: str, identity):  # noqa: ANN001, ANN202 - (str, Identity) -> Episode
        # the journal's `by` is the station user, as the other reconcile commands write it;
        # the clerk's name goes into each entry (entered_by)
        return load_episode(settings.folder, episode_id, recipients(config, identity),
                            [identity.secret], who(config))
    return open_episode


def _probe_terminal_images() -> None:
    """textual-image asks the terminal what it can draw (Kitty, Sixel) when imported, which
    it can only do before Textual takes the terminal over."""
    try:
        import textual_image.widget  # noqa: F401
    except ImportError:
        pass


COMMANDS = [enter_cmd]
