using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.HostOs;

namespace PcieVirt.Cli;

/// <summary>Parsed arguments of <c>pcievirt mrio</c>.</summary>
public sealed record MrIoArguments(int[] Weights, VlArbitrationPolicy Policy, WorkloadOptions Workload, int Generation, int? Width, bool Json)
{
    public const string Usage = "usage: pcievirt mrio --model FILE [--weights W0:W1[:…]] [--policy wrr|strict] [--ops N] [--bs SIZE] [--iodepth N] [--rw PATTERN] [--link GEN[xWIDTH]] [--seed S] [--json]";

    /// <summary>Parses the arguments; on failure returns null and a message naming the bad one.</summary>
    public static (MrIoArguments? Args, string? Error) Parse(IReadOnlyList<string> args)
    {
        int[] weights = [1, 1];
        var policy = VlArbitrationPolicy.WeightedRoundRobin;
        int ops = 2000, depth = 32, bs = 128 * 1024, gen = 4;
        int? width = null;
        ulong seed = 1;
        var pattern = WorkloadPattern.RandRead;
        bool json = false;
        var c = CultureInfo.InvariantCulture;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--json") { json = true; continue; }
            if (a is not ("--weights" or "--policy" or "--ops" or "--bs" or "--iodepth" or "--rw" or "--link" or "--seed")) return (null, $"unknown argument '{a}'");
            if (i + 1 >= args.Count) return (null, $"{a} needs a value");
            string v = args[++i];
            switch (a)
            {
                case "--weights":
                    var parts = v.Split(':');
                    weights = new int[parts.Length];
                    for (int k = 0; k < parts.Length; k++)
                        if (!int.TryParse(parts[k], NumberStyles.None, c, out weights[k]) || weights[k] is < 1 or > 255)
                            return (null, $"--weights '{v}': each weight is an integer 1..255, one per host, separated by ':'");
                    break;
                case "--policy":
                    if (v is "wrr") policy = VlArbitrationPolicy.WeightedRoundRobin;
                    else if (v is "strict") policy = VlArbitrationPolicy.StrictPriority;
                    else return (null, $"--policy '{v}' is not wrr or strict");
                    break;
                case "--ops":
                    if (!int.TryParse(v, NumberStyles.None, c, out ops) || ops < 1) return (null, $"--ops '{v}' is not a positive integer");
                    break;
                case "--iodepth":
                    if (!int.TryParse(v, NumberStyles.None, c, out depth) || depth < 1) return (null, $"--iodepth '{v}' is not a positive integer");
                    break;
                case "--bs":
                    if (!WorkloadOptions.TryParseSize(v, out bs)) return (null, $"--bs '{v}' is not a size (bytes, or with k/m suffix)");
                    break;
                case "--rw":
                    if (!WorkloadOptions.TryParsePattern(v, out pattern)) return (null, $"--rw '{v}' is not one of read, write, randread, randwrite, randrw");
                    break;
                case "--link":
                    var lw = v.Split('x');
                    if (!int.TryParse(lw[0], NumberStyles.None, c, out gen) || gen is < 1 or > 5
                        || lw.Length > 2 || (lw.Length == 2 && (!int.TryParse(lw[1], NumberStyles.None, c, out int w) || !(width = w).HasValue || w is not (1 or 2 or 4 or 8 or 16 or 32))))
                        return (null, $"--link '{v}' is not GEN[xWIDTH] (GEN 1..5, WIDTH 1, 2, 4, 8, 16 or 32), e.g. 4x8");
                    break;
                default:
                    if (!ulong.TryParse(v, NumberStyles.None, c, out seed)) return (null, $"--seed '{v}' is not a non-negative integer");
                    break;
            }
        }
        return (new MrIoArguments(weights, policy, new WorkloadOptions { Pattern = pattern, BlockSize = bs, IoDepth = depth, Ops = ops, Seed = seed },
            gen, width, json), null);
    }
}

/// <summary>
/// <c>pcievirt mrio</c>: every host of a multi-root model runs a saturating workload through the reference driver
/// on the PF bound in its VH, at the same time, over the one MR link to the shared RAID controller. The link's
/// virtual links arbitrate with the given weights (or strict priority). Two runs: all hosts busy (each VH's share
/// of the link while all are busy), then only the first host (an idle VH's share goes to the others: work
/// conserving). Before them, isolation checks: a configuration read from each host at the others' PF addresses,
/// and a DMA write from each PF, which lands in its own host's memory only.
/// <para>Time base: each host has its own virtual clock, but one link needs one time. The hosts run in lock step
/// on the first host's clock (the others are advanced to it at every step), which is the simulation of hosts
/// whose clocks agree; no host's events are reordered, since all run in one event loop.</para>
/// </summary>
public static class MrIoCommand
{
    // Every TLP on the device link carries the MR-IOV local prefix: one DW (PCIe Base Spec §2.2.1).
    const int PrefixBytes = 4;

    /// <summary>One host's PF in the scenario.</summary>
    sealed record Vh(HostSystem Host, VirtualHierarchy Hierarchy, PciAddress Address, PciFunction Function, NvmeController Controller, int Tag, int Vl, int Weight);

    /// <summary>One run's per-host results; <see cref="WindowNs"/> is when the first host finished (all busy until then).</summary>
    sealed record Run(string Name, List<(Vh Vh, WorkloadResult Result, long WindowBytes)> Hosts, ulong WindowNs);

    /// <summary>Runs the scenario; returns the exit code. With <paramref name="loggerFactory"/>, <c>--trace</c> shows every VL booking.</summary>
    public static int Execute(PcieSystem system, MrIoArguments args, TextWriter stdout, TextWriter stderr, ILoggerFactory? loggerFactory = null)
    {
        if (system.MultiRoot is not { } mr) return Fail(stderr, "this model has no multi-root section (see devicemodels/mriov-2host.json)");
        var port = mr.Devices.FirstOrDefault(d => d.Raid != null)?.Port;
        if (port is null) return Fail(stderr, "the multi-root section has no raid-controller device");
        var bindings = mr.Switch.Bindings.Where(b => b.DevicePort == port).ToList();
        if (bindings.Count < 2) return Fail(stderr, $"{port.Device.Name} has PFs bound in {bindings.Count} host VH(s); the scenario needs two or more");
        if (args.Weights.Length != bindings.Count)
            return Fail(stderr, $"--weights gives {args.Weights.Length} weight(s) for {bindings.Count} host VHs ({string.Join(", ", bindings.Select(b => b.Vh.RootComplex.Name))})");

        int width = args.Width ?? mr.Switch.Options.LinkWidth;
        var timing = new TimingParameters().With(TimingParameter.PcieGeneration, (ulong)args.Generation).With(TimingParameter.PcieWidth, (ulong)width);
        var plain = new PcieTransportTiming(timing);
        int mps = (int)timing[TimingParameter.MaxPayloadSize];
        var links = new MrVirtualLinks(port.Link.Name, new VirtualLinkOptions
        {
            LinkBytesPerNs = plain.LinkBytesPerNs, MaxPayloadSize = mps,
            PostedOverhead = (int)timing[TimingParameter.TlpOverheadWrite] + PrefixBytes,
            NonPostedOverhead = (int)timing[TimingParameter.TlpOverheadRead] + PrefixBytes,
            CompletionOverhead = (int)timing[TimingParameter.TlpOverheadCompletion] + PrefixBytes,
        }, loggerFactory?.CreateLogger(RootComplex.TlpLogCategory));
        links.SetPolicy(args.Policy);

        var vhs = new List<Vh>();
        for (int i = 0; i < bindings.Count; i++)
        {
            var b = bindings[i];
            var host = system.Hosts.First(h => h.RootComplex == b.Vh.RootComplex);
            if (b.Function is not NvmeEndpointFunction nf) return Fail(stderr, $"{b.Function.Name} is not an NVMe controller function");
            int tag = port.Link.TagOf(b.Vh.Id) ?? 0;
            int vl = links.VlOf(tag);
            if (vhs.Any(v => v.Vl == vl)) return Fail(stderr, $"VH tags {tag} and {vhs.First(v => v.Vl == vl).Tag} map to one VL");
            links.SetWeight(vl, args.Weights[i]);
            vhs.Add(new Vh(host, b.Vh, new PciAddress(host.RootComplex.Segment, b.Function.Bdf), b.Function, nf.Controller, tag, vl, args.Weights[i]));
        }

        var isolation = CheckIsolation(vhs);
        var saved = vhs.Select(v => (v.Controller.Media, v.Controller.Transport, v.Controller.Clock, v.Controller.Observer)).ToList();
        var savedLinks = port.Link.VirtualLinks;
        var runs = new List<Run>();
        try
        {
            port.Link.VirtualLinks = links;
            // One back end for all PFs (the controller's RAID engine), wide enough that the link is what is shared.
            var media = new NvmeMediaModel(64);
            var clock0 = vhs[0].Host.RootComplex.Clock;
            foreach (var v in vhs)
            {
                v.Controller.Media = media;
                v.Controller.Transport = new VlTransportTiming(plain, links, v.Tag, mps, (int)timing[TimingParameter.ReadCompletionSize], () => clock0.Now);
            }
            runs.Add(RunPhase("all busy", vhs, args));
            var alone = RunPhase("others idle", vhs.Take(1).ToList(), args);
            runs.Add(alone);
        }
        catch (Exception e) when (e is NvmeDriverException or ArgumentException or InvalidOperationException)
        {
            return Fail(stderr, e.Message);
        }
        finally
        {
            port.Link.VirtualLinks = savedLinks;
            for (int i = 0; i < vhs.Count; i++)
                (vhs[i].Controller.Media, vhs[i].Controller.Transport, vhs[i].Controller.Clock, vhs[i].Controller.Observer) = saved[i];
        }
        stdout.Write(args.Json ? ToJson(args, links, vhs, runs, isolation, args.Generation, width) : ToText(args, links, vhs, runs, isolation, args.Generation, width));
        bool ok = isolation.All(r => r.Isolated) && runs.All(r => r.Hosts.All(h => h.Result.Errors == 0));
        return ok ? 0 : 1;
    }

    static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"pcievirt mrio: {message}");
        return 1;
    }

    /// <summary>One isolation probe: what <paramref name="From"/> got when it tried to reach <paramref name="Target"/>.</summary>
    sealed record Probe(string From, string Target, string Kind, string Outcome, bool Isolated);

    static List<Probe> CheckIsolation(List<Vh> vhs)
    {
        var probes = new List<Probe>();
        foreach (var a in vhs)
            foreach (var b in vhs.Where(b => b != a))
            {
                // Configuration: A's config request at the address B's PF has in B's hierarchy (same segment
                // number in A's view). It must not reach B's PF: UR, or another function of A's own.
                var at = new PciAddress(a.Host.RootComplex.Segment, b.Function.Bdf);
                var st = a.Host.Read(at, 0, 4, out uint id);
                var hit = a.Host.RootComplex.FindFunction(b.Function.Bdf);
                bool reachesB = hit == b.Function;
                probes.Add(new Probe(a.Host.Name, $"{b.Host.Name} {b.Function.Name} config ({at})", "config",
                    st == CompletionStatus.SuccessfulCompletion ? $"completed by {hit?.Name ?? "?"} (id {id:x8}), not {b.Function.Name}" : st.ToString(),
                    !reachesB));
                // Memory: A's PF writes a marker at an address of B's RAM; only A's memory changes.
                ulong addr = b.Host.RootComplex.HostMemory.Ranges[0].Base + 0x1000;
                var before = new byte[8]; var after = new byte[8]; var mine = new byte[8];
                b.Host.RootComplex.HostMemory.Read(addr, before);
                byte[] marker = [0x4D, 0x52, 0x49, 0x4F, 0x56, (byte)a.Tag, 0xA5, 0x5A];
                // The host's own OS enables bus mastering on its PF (a configuration write in its own VH).
                a.Host.Read(a.Address, PciRegs.Command, 2, out uint cmd);
                a.Host.Write(a.Address, PciRegs.Command, 2, cmd | (uint)PciCommand.BusMaster);
                bool sent = a.Function.Upstream?.MemoryWrite(a.Function.Bdf, addr, marker) ?? false;
                a.Host.Write(a.Address, PciRegs.Command, 2, cmd);
                b.Host.RootComplex.HostMemory.Read(addr, after);
                a.Host.RootComplex.HostMemory.Read(addr, mine);
                bool untouched = before.SequenceEqual(after);
                probes.Add(new Probe(a.Host.Name, $"{b.Host.Name} RAM 0x{addr:x}", "dma",
                    $"{(sent ? "write completed" : "write not completed")} in {a.Host.Name}'s memory ({(mine.SequenceEqual(marker) ? "marker there" : "marker absent")}); {b.Host.Name}'s memory {(untouched ? "unchanged" : "CHANGED")}",
                    untouched));
            }
        return probes;
    }

    static Run RunPhase(string name, List<Vh> vhs, MrIoArguments args)
    {
        // One time base: the first host's clock; the other hosts' clocks follow it in lock step.
        var clock = vhs[0].Host.RootComplex.Clock;
        var others = vhs.Skip(1).Select(v => v.Host.RootComplex.Clock).Where(c => c != clock).Distinct().ToArray();
        foreach (var c in others) clock.AdvanceTo(Math.Max(clock.Now, c.Now));
        void Sync()
        {
            foreach (var c in others) if (c.Now < clock.Now) c.AdvanceTo(clock.Now);
        }
        void Pump()
        {
            Sync();
            foreach (var v in vhs) v.Controller.ProcessPending();
        }
        var time = new DelegateTimebase(() => clock.Now, () => vhs.Min(v => v.Controller.NextCompletionNs), t =>
        {
            clock.AdvanceTo(t);
            Pump();
        });
        var completions = vhs.Select(_ => new List<(ulong At, int Bytes)>()).ToArray();
        var workloads = new List<NvmeWorkload>();
        for (int i = 0; i < vhs.Count; i++)
        {
            var v = vhs[i];
            v.Controller.Clock = () => clock.Now;
            var list = completions[i];
            v.Controller.Observer = new Recorder(list);
            var memory = IoCommand.DriverMemory(v.Host.RootComplex) ?? throw new InvalidOperationException($"{v.Host.Name}: no free 64 MiB of RAM for the driver");
            var driver = new NvmeDriver(new OsHostBus(v.Host, v.Address), memory, new NvmeDriverOptions
            {
                IoQueueEntries = Math.Max(64, args.Workload.IoDepth + 1), Clock = () => clock.Now,
                AdvanceClock = d => { clock.Advance(d); Sync(); }, Pump = Pump,
            });
            driver.Initialize();
            workloads.Add(new NvmeWorkload(driver, args.Workload with { Seed = args.Workload.Seed + (ulong)i }, time));
        }
        ulong start = clock.Now;
        var results = NvmeWorkload.RunTogether(time, [.. workloads]);
        // The window where every host was busy ends at the first host's last completion.
        ulong window = completions.Min(l => l.Count == 0 ? start : l.Max(c => c.At));
        var hosts = new List<(Vh, WorkloadResult, long)>();
        for (int i = 0; i < vhs.Count; i++)
            hosts.Add((vhs[i], results[i], completions[i].Where(c => c.At <= window && c.At >= start).Sum(c => (long)c.Bytes)));
        return new Run(name, hosts, window - start);
    }

    /// <summary>Records each I/O completion's time and size.</summary>
    sealed class Recorder(List<(ulong At, int Bytes)> list) : INvmeCommandObserver
    {
        public void OnCommandCompleted(in NvmeCommandRecord record)
        {
            if (record.SqId != 0) list.Add((record.CompletedAtNs, record.Bytes));
        }
    }

    static double Share(Run run, long bytes)
    {
        long total = run.Hosts.Sum(h => h.WindowBytes);
        return total == 0 ? 0 : (double)bytes / total;
    }

    /// <summary>Payload carried in the all-busy window over what the link could carry in it (payload of MPS-sized writes).</summary>
    static double Utilisation(Run run, MrVirtualLinks links)
    {
        if (run.WindowNs == 0) return 0;
        var o = links.Options;
        double payloadPerNs = o.LinkBytesPerNs * o.MaxPayloadSize / (o.MaxPayloadSize + o.PostedOverhead);
        return run.Hosts.Sum(h => h.WindowBytes) / (payloadPerNs * run.WindowNs);
    }

    static string ToText(MrIoArguments args, MrVirtualLinks links, List<Vh> vhs, List<Run> runs, List<Probe> isolation, int gen, int width)
    {
        var c = CultureInfo.InvariantCulture;
        var w = args.Workload;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"mrio: {vhs.Count} hosts, {w.Pattern.ToString().ToLowerInvariant()} bs={w.BlockSize} qd{w.IoDepth} ops={w.Ops} each; MR link Gen{gen} x{width} ({links.Options.LinkBytesPerNs:F2} B/ns per direction at the TLP layer)"));
        string policy = args.Policy == VlArbitrationPolicy.StrictPriority ? "strict priority (lower VL first)" : "weighted round robin";
        sb.AppendLine($"VL arbitration: {policy}; " +
            string.Join(", ", vhs.Select(v => string.Create(c, $"{v.Host.Name} PF {v.Function.Name} VH{v.Hierarchy.Id} tag {v.Tag} -> VL{v.Vl} weight {v.Weight}"))));
        sb.AppendLine("isolation:");
        foreach (var p in isolation) sb.AppendLine($"  {(p.Isolated ? "ok  " : "FAIL")} {p.From} -> {p.Target}: {p.Outcome}");
        foreach (var run in runs)
        {
            double util = Utilisation(run, links);
            sb.AppendLine(string.Create(c, $"run '{run.Name}' (all hosts busy for the first {run.WindowNs / 1e3:F1} us; link busy {util * 100:F0} % of it{(util < 0.9 ? ": the link is not the bottleneck, so the VL weights cannot show (try --link 2x1)" : "")}):"));
            sb.AppendLine("  host     VL  weight  iops       MB/s      share-while-all-busy  p50 us    p99 us    errors");
            foreach (var (v, r, bytes) in run.Hosts)
                sb.AppendLine(string.Create(c,
                    $"  {v.Host.Name,-8} {v.Vl,-3} {v.Weight,-7} {r.Iops,-10:F0} {r.BandwidthBytesPerSecond / 1e6,-9:F1} {Share(run, bytes) * 100,5:F1} %               {r.Latency.P50 / 1e3,-9:F1} {r.Latency.P99 / 1e3,-9:F1} {r.Errors}"));
        }
        sb.AppendLine($"link {links.Upstream.Name.Replace(" up", "", StringComparison.Ordinal)} virtual links (both runs):");
        sb.AppendLine("  dir   VL  posted   nonposted  cpl      payload MB  credit stalls  queue us");
        foreach (var ch in new[] { links.Upstream, links.Downstream })
            for (int vl = 0; vl < ch.VlCount; vl++)
            {
                var k = ch.Counters(vl);
                if (k.Posted + k.NonPosted + k.Completions == 0) continue;
                sb.AppendLine(string.Create(c,
                    $"  {(ch == links.Upstream ? "up" : "down"),-5} {vl,-3} {k.Posted,-8} {k.NonPosted,-10} {k.Completions,-8} {k.PayloadBytes / 1e6,-11:F1} {k.CreditStalls,-14} {k.QueueNs / 1e3:F1}"));
            }
        return sb.ToString();
    }

    static string ToJson(MrIoArguments args, MrVirtualLinks links, List<Vh> vhs, List<Run> runs, List<Probe> isolation, int gen, int width)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("policy", args.Policy == VlArbitrationPolicy.StrictPriority ? "strict" : "wrr");
            w.WriteString("link", $"gen{gen}x{width}");
            w.WriteNumber("link_bytes_per_ns", Math.Round(links.Options.LinkBytesPerNs, 4));
            w.WriteStartArray("isolation");
            foreach (var p in isolation)
            {
                w.WriteStartObject();
                w.WriteString("from", p.From);
                w.WriteString("target", p.Target);
                w.WriteString("kind", p.Kind);
                w.WriteString("outcome", p.Outcome);
                w.WriteBoolean("isolated", p.Isolated);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("runs");
            foreach (var run in runs)
            {
                w.WriteStartObject();
                w.WriteString("name", run.Name);
                w.WriteNumber("all_busy_ns", run.WindowNs);
                w.WriteNumber("link_utilisation", Math.Round(Utilisation(run, links), 4));
                w.WriteStartArray("hosts");
                foreach (var (v, r, bytes) in run.Hosts)
                {
                    w.WriteStartObject();
                    w.WriteString("host", v.Host.Name);
                    w.WriteString("pf", v.Function.Name);
                    w.WriteNumber("vh", v.Hierarchy.Id);
                    w.WriteNumber("tag", v.Tag);
                    w.WriteNumber("vl", v.Vl);
                    w.WriteNumber("weight", v.Weight);
                    w.WriteNumber("share_all_busy", Math.Round(Share(run, bytes), 4));
                    w.WritePropertyName("result");
                    using (var d = JsonDocument.Parse(r.ToJson())) d.WriteTo(w);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("virtual_links");
            foreach (var ch in new[] { links.Upstream, links.Downstream })
                for (int vl = 0; vl < ch.VlCount; vl++)
                {
                    var k = ch.Counters(vl);
                    if (k.Posted + k.NonPosted + k.Completions == 0) continue;
                    w.WriteStartObject();
                    w.WriteString("direction", ch == links.Upstream ? "up" : "down");
                    w.WriteNumber("vl", vl);
                    w.WriteNumber("posted", k.Posted);
                    w.WriteNumber("nonposted", k.NonPosted);
                    w.WriteNumber("completions", k.Completions);
                    w.WriteNumber("payload_bytes", k.PayloadBytes);
                    w.WriteNumber("credit_stalls", k.CreditStalls);
                    w.WriteNumber("credit_stall_ns", k.CreditStallNs);
                    w.WriteNumber("queue_ns", k.QueueNs);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
