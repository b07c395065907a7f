using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

/// <summary>
/// Whole-host checks, run on hosts that read without errors: enough bus numbers in the ECAM range
/// for the topology, and apertures large enough for the BARs (necessary conditions only, so a
/// failure here means no resource assignment can succeed).
/// </summary>
internal static class HostChecks
{
    public static void Check(ParseContext ctx, HostModel host)
    {
        CheckBusNumbers(ctx, host);
        CheckApertures(ctx, host);
    }

    static void CheckBusNumbers(ParseContext ctx, HostModel host)
    {
        int needed = 1; // the root bus
        foreach (var rp in host.RootPorts) needed += rp.BusNumbersNeeded();
        if (needed > host.Ecam.BusCount)
            ctx.Error(JsonPaths.Property(JsonPaths.Property(host.Path, "ecam"), "busEnd"),
                $"the topology needs {needed} bus numbers (root bus, one per port and switch, plus busReserve) but buses {host.Ecam.BusStart}..{host.Ecam.BusEnd} give {host.Ecam.BusCount}");
    }

    static void CheckApertures(ParseContext ctx, HostModel host)
    {
        UInt128 below4G = 0, memory = 0, io = 0;
        foreach (var ep in host.AllEndpoints())
        {
            foreach (var f in ep.Functions)
            {
                // A bridge's non-prefetchable window is 32-bit (§7.5.1.3.8), so behind a port only
                // prefetchable 64-bit BARs may go above 4 GiB. The expansion ROM BAR is 32-bit.
                Add(f.Bars, 1, ep.IsIntegrated, ref below4G, ref memory, ref io);
                below4G += f.ExpansionRomSize;
                memory += f.ExpansionRomSize;
                if (f.Capabilities.Sriov is { } iov)
                    Add(iov.VfBars, (ulong)iov.TotalVfs, ep.IsIntegrated, ref below4G, ref memory, ref io);
            }
        }

        var ap = host.Apertures;
        var apPath = JsonPaths.Property(host.Path, "apertures");
        if (below4G > ap.Mmio32.Size)
            ctx.Error(JsonPaths.Property(JsonPaths.Property(apPath, "mmio32"), "size"),
                $"{ModelNumber.FormatSize(ap.Mmio32.Size)} is too small: the BARs that must sit below 4 GiB (32-bit, non-prefetchable behind a port, ROMs) need at least {Format(below4G)}");
        else if (memory > (UInt128)ap.Mmio32.Size + (ap.Mmio64?.Size ?? 0))
            ctx.Error(apPath, $"the memory BARs need at least {Format(memory)} but mmio32 and mmio64 give {Format((UInt128)ap.Mmio32.Size + (ap.Mmio64?.Size ?? 0))}");
        if (io > 0 && ap.Io is not { } ioRange)
            ctx.Error(apPath, $"devices have I/O BARs ({Format(io)}) but the host has no io aperture");
        else if (ap.Io is { } r && io > r.Size)
            ctx.Error(JsonPaths.Property(JsonPaths.Property(apPath, "io"), "size"),
                $"{ModelNumber.FormatSize(r.Size)} is too small: the I/O BARs need at least {Format(io)}");
    }

    static void Add(IReadOnlyList<BarDefinition> bars, ulong count, bool integrated, ref UInt128 below4G, ref UInt128 memory, ref UInt128 io)
    {
        foreach (var b in bars)
        {
            UInt128 bytes = (UInt128)b.Size * count;
            if (b.Kind == BarKind.Io) { io += bytes; continue; }
            memory += bytes;
            if (b.Kind == BarKind.Memory32 || (!integrated && !b.Prefetchable)) below4G += bytes;
        }
    }

    static string Format(UInt128 bytes) => bytes > ulong.MaxValue ? "more than 2^64 bytes" : ModelNumber.FormatSize((ulong)bytes);
}
