using System.Globalization;
using System.Text;
using System.Text.Json;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.HostOs;

namespace PcieVirt.Cli;

/// <summary>
/// <c>pcievirt io --function NOISY --noisy-neighbour QUIET</c>: two controllers of one RAID controller (PF or
/// VFs) run together on the host's virtual timebase, a saturating workload on NOISY (the given pattern
/// and depth, QD32 by default) beside QD1 random reads on QUIET, twice: without QoS (both share the
/// controller's back end first come, first served) and with QoS (under the controller's arbiter with the
/// limits set by the model or <c>raid BDF vf N qos</c>). Prints both functions' IOPS and latency percentiles per run.
/// </summary>
public static class NoisyNeighbour
{
    /// <summary>One run's results, noisy first.</summary>
    public sealed record Phase(string Name, WorkloadResult Noisy, WorkloadResult Quiet);

    /// <summary>Runs the scenario; returns the exit code.</summary>
    public static int Run(HostSystem host, IoArguments args, TextWriter stdout, TextWriter stderr)
    {
        var rc = host.RootComplex;
        var quietAddress = args.QuietFunction!.Value;
        if (Controller(rc, args.Function, stderr) is not { } noisy || Controller(rc, quietAddress, stderr) is not { } quiet) return 1;
        var device = host.RaidControllers().Select(f => f.Device).FirstOrDefault(d => Owns(d, noisy) && Owns(d, quiet));
        if (device is null)
        {
            stderr.WriteLine($"pcievirt io: {args.Function} and {quietAddress} are not controllers of one RAID controller (the noisy-neighbour scenario shares its back end)");
            return 1;
        }
        if (IoCommand.DriverMemory(rc) is not { } memory)
        {
            stderr.WriteLine("pcievirt io: host memory has no free 64 MiB range for the drivers' queues and buffers");
            return 1;
        }
        bool wasOn = device.QosEnabled;
        var phases = new List<Phase>();
        try
        {
            if (wasOn && device.DisableQos() is { IsSuccess: false } off) return Fail(stderr, off.Error!);
            // Without QoS: both controllers in timed mode on one shared back end, first come first served.
            var fcfs = new NvmeMediaModel(device.QosChannels);
            noisy.Media = fcfs;
            quiet.Media = fcfs;
            try
            {
                phases.Add(RunPhase("without QoS", host, args, quietAddress, noisy, quiet, null, memory));
            }
            finally
            {
                noisy.Media = null;
                quiet.Media = null;
            }
            if (device.EnableQos() is { IsSuccess: false } on) return Fail(stderr, on.Error!);
            phases.Add(RunPhase("with QoS", host, args, quietAddress, noisy, quiet, device.Arbiter, memory));
            if (!wasOn && device.DisableQos() is { IsSuccess: false } back) return Fail(stderr, back.Error!);
        }
        catch (Exception e) when (e is NvmeDriverException or ArgumentException or InvalidOperationException)
        {
            return Fail(stderr, e.Message);
        }
        var limits = (Limits(device, noisy), Limits(device, quiet));
        stdout.Write(args.Json ? ToJson(args, quietAddress, phases, limits) + Environment.NewLine : ToText(args, quietAddress, phases, limits));
        return phases.All(p => p.Noisy.Errors == 0 && p.Quiet.Errors == 0) ? 0 : 1;
    }

    static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"pcievirt io: {message}");
        return 1;
    }

    static NvmeController? Controller(RootComplex rc, PciAddress address, TextWriter stderr)
    {
        var f = rc.Segment == address.Segment ? rc.FindFunction(address.Bdf) : null;
        NvmeController? c = f switch { NvmeEndpointFunction pf => pf.Controller, NvmeVirtualFunction vf => vf.Controller, _ => null };
        if (c is null) stderr.WriteLine($"pcievirt io: {address} is not an NVMe controller function");
        return c;
    }

    static bool Owns(RaidControllerDevice d, NvmeController c) =>
        d.Primary == c || d.VfControllers.Any(v => v.Controller == c);

    static QosLimits? Limits(RaidControllerDevice d, NvmeController c) =>
        c == d.Primary ? d.Arbiter?.LimitsOf(c.ControllerId) ?? d.Arbiter?.RememberedLimitsOf(c.ControllerId)
        : d.QosOf(c.ControllerId - RaidControllerDevice.PrimaryControllerId);

    static Phase RunPhase(string name, HostSystem host, IoArguments args, PciAddress quietAddress,
        NvmeController noisy, NvmeController quiet, QosArbiter? arbiter, HostMemoryAllocator memory)
    {
        var clock = host.RootComplex.Clock;
        noisy.Clock = quiet.Clock = () => clock.Now;
        void Pump()
        {
            if (arbiter != null) arbiter.Run();
            else
            {
                noisy.ProcessPending();
                quiet.ProcessPending();
            }
        }
        var time = new DelegateTimebase(() => clock.Now,
            () => arbiter?.NextEventNs ?? Math.Min(noisy.NextCompletionNs, quiet.NextCompletionNs),
            t =>
            {
                clock.AdvanceTo(t);
                Pump();
            });
        NvmeDriver Driver(PciAddress a, int depth) => new(new OsHostBus(host, a), memory, new NvmeDriverOptions
        {
            IoQueueEntries = Math.Max(64, depth + 1), Clock = () => clock.Now, AdvanceClock = clock.Advance, Pump = Pump,
        });
        var noisyDriver = Driver(args.Function, args.Workload.IoDepth);
        var quietDriver = Driver(quietAddress, 1);
        noisyDriver.Initialize();
        quietDriver.Initialize();
        var quietOptions = new WorkloadOptions
        {
            Pattern = WorkloadPattern.RandRead, BlockSize = args.Workload.BlockSize, IoDepth = 1, Ops = args.QuietOps, Seed = args.Workload.Seed + 1,
        };
        var r = NvmeWorkload.RunTogether(time, new NvmeWorkload(noisyDriver, args.Workload, time), new NvmeWorkload(quietDriver, quietOptions, time));
        return new Phase(name, r[0], r[1]);
    }

    static string ToText(IoArguments args, PciAddress quiet, List<Phase> phases, (QosLimits? Noisy, QosLimits? Quiet) limits)
    {
        var c = CultureInfo.InvariantCulture;
        var w = args.Workload;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"noisy neighbour: {args.Function} {w.Pattern.ToString().ToLowerInvariant()} qd{w.IoDepth} bs={w.BlockSize} ops={w.Ops}, beside {quiet} randread qd1 ops={args.QuietOps}"));
        sb.AppendLine(string.Create(c, $"QoS limits: noisy {Session.FormatQos(limits.Noisy)}; quiet {Session.FormatQos(limits.Quiet)}"));
        sb.AppendLine("run          function  role    iops        p50 us    p90 us    p99 us    max us    errors");
        foreach (var p in phases)
            foreach (var (role, addr, r) in new[] { ("noisy", args.Function, p.Noisy), ("quiet", quiet, p.Quiet) })
            {
                var l = r.Latency;
                sb.AppendLine(string.Create(c,
                    $"{p.Name,-12} {addr.Bdf,-9} {role,-7} {r.Iops,-11:F0} {l.P50 / 1e3,-9:F1} {l.P90 / 1e3,-9:F1} {l.P99 / 1e3,-9:F1} {l.Max / 1e3,-9:F1} {r.Errors}"));
            }
        return sb.ToString();
    }

    static string ToJson(IoArguments args, PciAddress quiet, List<Phase> phases, (QosLimits? Noisy, QosLimits? Quiet) limits)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("noisy", args.Function.ToString());
            w.WriteString("quiet", quiet.ToString());
            w.WriteStartObject("qos");
            WriteLimits(w, "noisy", limits.Noisy);
            WriteLimits(w, "quiet", limits.Quiet);
            w.WriteEndObject();
            foreach (var p in phases)
            {
                w.WriteStartObject(p.Name == "with QoS" ? "with_qos" : "without_qos");
                w.WritePropertyName("noisy");
                using (var d = JsonDocument.Parse(p.Noisy.ToJson())) d.WriteTo(w);
                w.WritePropertyName("quiet");
                using (var d = JsonDocument.Parse(p.Quiet.ToJson())) d.WriteTo(w);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void WriteLimits(Utf8JsonWriter w, string name, QosLimits? limits)
    {
        var l = limits ?? QosLimits.Unlimited;
        w.WriteStartObject(name);
        w.WriteNumber("iops", l.IopsLimit);
        w.WriteNumber("bw_bytes_per_s", l.BytesPerSecond);
        w.WriteNumber("weight", l.Weight);
        w.WriteEndObject();
    }
}
