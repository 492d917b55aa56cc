"""The benchmark's report: the issue's targets (met or missed, with the figures), the rows
of results/latest.json and the markdown table of results/latest.md."""
from __future__ import annotations

import statistics


def _median(results: dict, workload: str, tool_prefix: str):
    """The best median among the variants of tools whose name starts with tool_prefix."""
    meds = [statistics.median(v["wall"]) for k, v in results.get(workload, {}).items()
            if k.startswith(tool_prefix)]
    return min(meds) if meds else None


def _peers(results: dict, workload: str):
    meds = [statistics.median(v["wall"]) for k, v in results.get(workload, {}).items()
            if not k.startswith("s3sync_mirror")]
    return min(meds) if meds else None


def verdicts(results: dict) -> list[dict]:
    """The issue's targets, each with the measured figures and met / missed. Peers are
    taken at their fastest variant; this tool with its defaults."""
    def ours(w):
        v = results.get(w, {}).get("s3sync_mirror|defaults")
        return statistics.median(v["wall"]) if v else None

    out = []

    def check(name, ok, figures):
        out.append({"target": name, "met": bool(ok), "figures": figures})

    if ours("W3") is not None:
        o, peer = ours("W3"), _peers(results, "W3")
        check("W3 under 1.0 s", o < 1.0, f"{o:.3f} s")
        check("W3 at least 3x faster than the fastest peer", peer / o >= 3,
              f"fastest peer {peer:.3f} s = {peer / o:.1f}x")
        rss = max(results["W3"]["s3sync_mirror|defaults"]["rss"]) / 1024
        check("W3 memory under 300 MB", rss * 1.048576 < 300, f"{rss:.0f} MiB")
    if ours("W2") is not None:
        o, peer = ours("W2"), _peers(results, "W2")
        check("W2 under 0.5 s", o < 0.5, f"{o:.3f} s")
        check("W2 at least 3x faster than every peer (issue 23)", peer / o >= 3,
              f"{o:.3f} s vs fastest peer {peer:.3f} s = {peer / o:.1f}x")
    for w in ("W1", "W5"):
        if ours(w) is None:
            continue
        o, peer = ours(w), _peers(results, w)
        check(f"{w} no slower than the fastest peer (issue 23)", o <= peer,
              f"{o:.3f} s vs {peer:.3f} s = {o / peer:.2f}x")
    for w in ("W6 up", "W6 down"):
        if ours(w) is not None:
            o, peer = ours(w), _peers(results, w)
            check(f"{w} within 1.1x of the fastest peer (issue 23)", o <= 1.1 * peer,
                  f"{o:.3f} s vs {peer:.3f} s = {o / peer:.2f}x")
    if "--help" in results:
        h = statistics.median(results["--help"]["s3sync_mirror|defaults"]["wall"])
        check("--help under 0.3 s", h < 0.3, f"{h:.3f} s")
    return out


def summarize(results: dict) -> list[dict]:
    rows = []
    for workload, tools in results.items():
        best_peer = min((statistics.median(v["wall"]) for k, v in tools.items()
                         if not k.startswith("s3sync_mirror")), default=None)
        ours = statistics.median(tools.get("s3sync_mirror|defaults", {"wall": [0]})["wall"])
        for key, v in tools.items():
            tool, variant = key.split("|")
            med = statistics.median(v["wall"])
            rows.append({
                "workload": workload, "tool": tool, "variant": variant,
                "median_s": round(med, 3), "min_s": min(v["wall"]), "max_s": max(v["wall"]),
                "runs": len(v["wall"]),
                "peak_rss_mib": round(max(v.get("rss") or [0]) / 1024),
                "ratio_to_ours": round(med / ours, 2) if ours else None,
                "fastest_peer_s": round(best_peer, 3) if best_peer else None,
                "timeout": v.get("timeout")})
    return rows


RSS_SHOWN = ("W3", "W7", "W8", "W9", "W10")


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Server: {meta['server']}; {meta['cpus']} CPUs; Python {meta['python']}; "
           f"{meta['repeat']} runs each; {meta['date']}.", "",
           "| workload | tool | flags | median s | min-max s | peer / ours | peak RSS MiB |",
           "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        rss = str(r["peak_rss_mib"]) if r["workload"] in RSS_SHOWN and r["peak_rss_mib"] \
            else ""
        cap = f"> {r['timeout']:.0f}" if r.get("timeout") else f"{r['median_s']:.3f}"
        ratio = f"{r['ratio_to_ours']:.2f}" if r["ratio_to_ours"] is not None else ""
        out.append(f"| {r['workload']} | {r['tool']} | {r['variant']} | {cap} "
                   f"| {r['min_s']:.3f}-{r['max_s']:.3f} | {ratio} | {rss} |")
    if meta.get("scale_state"):
        import scale

        out += ["", *scale.state_table(meta["scale_state"])]
    out += ["", "| target | met | measured |", "|---|---|---|"]
    out += [f"| {v['target']} | {'yes' if v['met'] else '**no**'} | {v['figures']} |"
            for v in meta.get("verdicts", [])]
    return "\n".join(out) + "\n"
