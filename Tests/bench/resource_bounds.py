"""Each layer of a profiled bundle against its busiest resource.

    npucc profile OUT.npub --json > profile.json
    npucc profile OUT.npub --trace trace.json
    python Tests/bench/resource_bounds.py profile.json trace.json [--target FILE] [--layers]

A layer's roofline (`npucc profile`) spreads its work evenly over the tiles. Its resource
bound here is the longest of: the busiest tile's matrix unit and vector unit (their
occupancy in the trace), the busiest tile's SRAM and the busiest cluster's L2 (the bytes
the trace's transfers move through it over its bandwidth), and L3 and DRAM (the bytes the
profile counts over theirs). DMA engines are left out: a transfer occupies its engine for
as long as the memories' bandwidth, shared with every other transfer, lets it take. Where
the busiest tile holds more work than the average, the bound says so; what remains between
it and the layer's cycles is the schedule: dependences, latencies and units waiting on
each other.
"""
import argparse
import collections
import json
import pathlib

DEFAULT_TARGET = pathlib.Path(__file__).resolve().parents[2] / "Sources/Target/Resources/npu-seed.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help="`npucc profile --json` output")
    parser.add_argument("trace", help="`npucc profile --trace` output")
    parser.add_argument("--target", default=str(DEFAULT_TARGET), help="the target description the bundle ran on")
    parser.add_argument("--layers", action="store_true", help="print every layer, not only the totals")
    args = parser.parse_args()

    profile = json.loads(pathlib.Path(args.profile).read_text())
    trace = json.loads(pathlib.Path(args.trace).read_text())["traceEvents"]
    target = json.loads(pathlib.Path(args.target).read_text())
    bandwidth = {m["name"]: m["bandwidth_bytes_per_cycle"] for m in target["memories"]}
    cycles_per_us = profile["clock_hz"] / 1e6

    process, thread = {}, {}
    for e in trace:
        if e.get("ph") == "M" and e["name"] == "process_name":
            process[e["pid"]] = e["args"]["name"]
        elif e.get("ph") == "M" and e["name"] == "thread_name":
            thread[(e["pid"], e["tid"])] = e["args"]["name"]

    # Per layer: occupancy per unit, and bytes per SRAM and per L2.
    busy = collections.defaultdict(collections.Counter)
    moved = collections.defaultdict(collections.Counter)
    for e in trace:
        if e.get("ph") != "X" or process[e["pid"]] == "layers":
            continue
        layer, cluster = e["args"]["layer"], process[e["pid"]]
        name = thread[(e["pid"], e["tid"])].split()
        cycles = e["dur"] * cycles_per_us
        tile = f"{cluster} {name[0]}" if name[0].startswith("t") else None
        if tile is not None and name[1] in ("matrix", "vector"):
            busy[layer][(name[1], tile)] += cycles
        if "bytes" in e["args"]:
            for level in {e["args"].get("from"), e["args"].get("to")}:
                if level == "l2":
                    moved[layer][("l2", cluster)] += e["args"]["bytes"]
                elif level == "sram" and tile is not None:
                    moved[layer][("sram", tile)] += e["args"]["bytes"]

    rows, total = [], collections.Counter()
    for layer in profile["layers"]:
        name = layer["name"]
        worst = collections.Counter()
        for (kind, _), cycles in busy[name].items():
            worst[kind] = max(worst[kind], cycles)
        for (level, _), count in moved[name].items():
            worst[level] = max(worst[level], count / bandwidth[level])
        for level in ("l3", "dram"):
            worst[level] = layer["bytes"][level] / bandwidth[level]
        kind, bound = max(worst.items(), key=lambda item: item[1])  # L3 and DRAM are always there
        rows.append((name, layer["cycles"], layer["roofline_cycles"], bound, kind))
        total["cycles"] += layer["cycles"]
        total["roofline"] += layer["roofline_cycles"]
        total["bound"] += bound

    if args.layers:
        print(f"{'layer':<14} {'cycles':>8} {'roofline':>9} {'bound':>8}  {'busiest':<12} {'cycles/bound':>12}")
        for name, cycles, roofline, bound, kind in rows:
            ratio = f"{cycles / bound:.2f}" if bound else "-"
            print(f"{name:<14} {cycles:>8,} {roofline:>9,.0f} {bound:>8,.0f}  {kind:<12} {ratio:>12}")
    print(
        f"cycles {total['cycles']:,.0f}, roofline {total['roofline']:,.0f}, resource bound {total['bound']:,.0f}: "
        f"the latency is {total['cycles'] / total['roofline']:.2f}x the roofline and "
        f"{total['cycles'] / total['bound']:.2f}x the resource bound, which is "
        f"{total['bound'] / total['roofline']:.2f}x the roofline")


if __name__ == "__main__":
    main()
