using PcieVirt.Platform.HostOs;
using PcieVirt.Platform;
using System.Globalization;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.Cli;

/// <summary>Parsed arguments of <c>pcievirt io</c>.</summary>
public sealed record IoArguments(PciAddress Function, WorkloadOptions Workload, bool Json)
{
    public const string Usage = "usage: pcievirt io [--model FILE] --function BDF --rw {read,write,randread,randwrite,randrw} --bs SIZE --iodepth N --ops N [--verify] [--seed S] [--json]\n"
        + "       pcievirt io [--model FILE] --function NOISY_BDF --noisy-neighbour QUIET_BDF [--quiet-ops N] [--rw …] [--bs SIZE] [--iodepth N (default 32)] [--ops N] [--seed S] [--json]";

    /// <summary>Noisy-neighbour scenario: the quiet function (QD1 random reads) run beside <see cref="Function"/>, or null.</summary>
    public PciAddress? QuietFunction { get; init; }

    /// <summary>Commands the quiet function issues in the noisy-neighbour scenario.</summary>
    public int QuietOps { get; init; } = 200;

    /// <summary>Parses the command's arguments; on failure returns null and a message naming the bad argument.</summary>
    public static (IoArguments? Args, string? Error) Parse(IReadOnlyList<string> args)
    {
        string? function = null, rw = null, bs = null, depth = null, ops = null, seed = null, quiet = null, quietOps = null;
        bool verify = false, json = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            switch (a)
            {
                case "--verify": verify = true; continue;
                case "--json": json = true; continue;
                case "--function" or "--rw" or "--bs" or "--iodepth" or "--ops" or "--seed" or "--noisy-neighbour" or "--quiet-ops":
                    if (i + 1 >= args.Count) return (null, $"{a} needs a value");
                    string v = args[++i];
                    switch (a)
                    {
                        case "--function": function = v; break;
                        case "--rw": rw = v; break;
                        case "--bs": bs = v; break;
                        case "--iodepth": depth = v; break;
                        case "--ops": ops = v; break;
                        case "--noisy-neighbour": quiet = v; break;
                        case "--quiet-ops": quietOps = v; break;
                        default: seed = v; break;
                    }
                    continue;
                default: return (null, $"unknown argument '{a}'");
            }
        }
        if (function is null) return (null, "--function BDF is required");
        if (!PciAddress.TryParse(function, out var address)) return (null, $"--function '{function}' is not a PCI address ([dddd:]bb:dd.f, hexadecimal)");
        var pattern = WorkloadPattern.RandRead;
        if (rw != null && !WorkloadOptions.TryParsePattern(rw, out pattern)) return (null, $"--rw '{rw}' is not one of read, write, randread, randwrite, randrw");
        int blockSize = 4096;
        if (bs != null && !WorkloadOptions.TryParseSize(bs, out blockSize)) return (null, $"--bs '{bs}' is not a size (bytes, or with k/m suffix, e.g. 4k)");
        PciAddress? quietAddress = null;
        if (quiet != null)
        {
            if (!PciAddress.TryParse(quiet, out var qa)) return (null, $"--noisy-neighbour '{quiet}' is not a PCI address ([dddd:]bb:dd.f, hexadecimal)");
            if (qa == address) return (null, "--noisy-neighbour names the same function as --function; give the quiet neighbour");
            quietAddress = qa;
        }
        else if (quietOps != null) return (null, "--quiet-ops needs --noisy-neighbour");
        int qops = 200;
        if (quietOps != null && (!int.TryParse(quietOps, NumberStyles.None, CultureInfo.InvariantCulture, out qops) || qops < 1))
            return (null, $"--quiet-ops '{quietOps}' is not a positive integer");
        int iodepth = quiet != null ? 32 : 1, count = 1000;
        if (depth != null && (!int.TryParse(depth, NumberStyles.None, CultureInfo.InvariantCulture, out iodepth) || iodepth < 1))
            return (null, $"--iodepth '{depth}' is not a positive integer");
        if (ops != null && (!int.TryParse(ops, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1))
            return (null, $"--ops '{ops}' is not a positive integer");
        ulong s = 1;
        if (seed != null && !ulong.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out s)) return (null, $"--seed '{seed}' is not a non-negative integer");
        return (new IoArguments(address, new WorkloadOptions { Pattern = pattern, BlockSize = blockSize, IoDepth = iodepth, Ops = count, Verify = verify, Seed = s }, json)
        {
            QuietFunction = quietAddress, QuietOps = qops,
        }, null);
    }

}

/// <summary>
/// <c>pcievirt io</c>: a fio-like workload through the reference <see cref="NvmeDriver"/> against the NVMe
/// controller of one function, in virtual time. When the controller completes commands immediately (no
/// media model), the run gives it a one-channel media model so that latencies mean something.
/// </summary>
public static class IoCommand
{
    /// <summary>
    /// Runs the workload on a host: BARs as its OS placed them (a VF's from its PF's VF BARs).
    /// <paramref name="trace"/>, when given, records the controller's commands (TLPs it takes from the fabric's log).
    /// </summary>
    public static int Run(HostSystem host, IoArguments args, TextWriter stdout, TextWriter stderr, SessionTrace? trace = null) =>
        args.QuietFunction != null ? NoisyNeighbour.Run(host, args, stdout, stderr)
        : Run(host.RootComplex, args, stdout, stderr, new OsHostBus(host, args.Function), trace);

    /// <summary>
    /// Runs the workload described by <paramref name="args"/> on <paramref name="rc"/>; returns the exit code.
    /// <paramref name="bus"/> is how the driver reaches the function (default: BARs read from config space);
    /// <paramref name="trace"/>, when given, records every command the controller completes.
    /// </summary>
    public static int Run(RootComplex rc, IoArguments args, TextWriter stdout, TextWriter stderr, INvmeHostBus? bus = null, SessionTrace? trace = null)
    {
        var f = rc.Segment == args.Function.Segment ? rc.FindFunction(args.Function.Bdf) : null;
        if (f is null)
        {
            stderr.WriteLine($"pcievirt io: no function at {args.Function}");
            return 1;
        }
        NvmeController? controller = f switch
        {
            NvmeEndpointFunction pf => pf.Controller,
            NvmeVirtualFunction vf => vf.Controller,
            _ => null,
        };
        if (controller is null)
        {
            stderr.WriteLine($"pcievirt io: {args.Function} ({f.Name}) is not an NVMe controller function");
            return 1;
        }
        var clock = rc.Clock;
        controller.Clock = () => clock.Now; // the device's time is its host's virtual time
        bool ownMedia = controller.Media is null;
        if (ownMedia) controller.Media = new NvmeMediaModel(1);
        var observer = controller.Observer;
        // I/O completions drive the progress bar; admin commands of the driver's set-up are not counted.
        using var progress = ProgressBar.ForConsole(stderr, $"io {args.Function}", args.Workload.Ops * (args.Workload.Verify ? 2L : 1L));
        long ioDone = 0;
        INvmeCommandObserver? chain = trace?.CommandObserver(args.Function, observer) ?? observer;
        if (ProgressBar.IsTerminal(stderr)) chain = new CountingObserver(chain, () => progress.Report(++ioDone));
        controller.Observer = chain;
        try
        {
            var memory = DriverMemory(rc);
            if (memory is null)
            {
                stderr.WriteLine("pcievirt io: host memory has no free 64 MiB range for the driver's queues and buffers");
                return 1;
            }
            var arbiter = controller.Arbiter as QosArbiter;
            void Pump()
            {
                if (arbiter != null) arbiter.Run();
                else controller.ProcessPending();
            }
            var time = new DelegateTimebase(() => clock.Now, () => arbiter?.NextEventNs ?? controller.NextCompletionNs, t =>
            {
                clock.AdvanceTo(t);
                Pump();
            });
            int queueEntries = Math.Max(64, args.Workload.IoDepth + 1);
            var driver = new NvmeDriver(bus ?? new FabricHostBus(rc, args.Function), memory, new NvmeDriverOptions
            {
                IoQueueEntries = queueEntries, Clock = () => clock.Now, AdvanceClock = clock.Advance, Pump = Pump,
            });
            driver.Initialize();
            var result = new NvmeWorkload(driver, args.Workload, time).Run();
            progress.Dispose();
            stdout.Write(args.Json ? result.ToJson() + Environment.NewLine : result.ToText());
            return result.Errors == 0 && result.VerifyMismatches == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is NvmeDriverException or ArgumentException or InvalidOperationException)
        {
            stderr.WriteLine($"pcievirt io: {e.Message}");
            return 1;
        }
        finally
        {
            controller.Observer = observer;
            if (ownMedia && controller.CommandsInFlight == 0) controller.Media = null;
        }
    }

    /// <summary>Counts I/O (non-admin) completions for the progress bar, then passes each on.</summary>
    sealed class CountingObserver(INvmeCommandObserver? next, Action onIo) : INvmeCommandObserver
    {
        public void OnCommandCompleted(in NvmeCommandRecord record)
        {
            if (record.SqId != 0) onIo();
            next?.OnCommandCompleted(record);
        }
    }

    /// <summary>The upper 64 MiB of the largest host RAM range of at least 128 MiB (firmware and OS use the bottom).</summary>
    internal static HostMemoryAllocator? DriverMemory(RootComplex rc)
    {
        const ulong Size = 64UL << 20;
        var r = rc.HostMemory.Ranges.Where(r => r.Size >= 2 * Size).OrderByDescending(r => r.Size).FirstOrDefault();
        return r.Size == 0 ? null : new HostMemoryAllocator(rc.HostMemory, r.Base + r.Size - Size, Size);
    }
}
