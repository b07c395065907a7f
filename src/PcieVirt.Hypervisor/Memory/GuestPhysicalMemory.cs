using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Memory;

/// <summary>
/// A guest's physical address space as the hypervisor (or a paravirtual back end) reads and writes it:
/// each 4 KiB page goes through the <see cref="Ept"/> to host RAM. Only RAM pages are memory here; an
/// access touching an MMIO page or a hole fails as a whole (nothing read or written). Allocation-free.
/// </summary>
public sealed class GuestPhysicalMemory : IPhysicalMemory
{
    /// <summary>Guest memory over <paramref name="ept"/>, backed by <paramref name="host"/>.</summary>
    public GuestPhysicalMemory(Ept ept, HostMemory host)
    {
        Ept = ept ?? throw new ArgumentNullException(nameof(ept));
        Host = host ?? throw new ArgumentNullException(nameof(host));
    }

    /// <summary>The guest's second-level table.</summary>
    public Ept Ept { get; }

    /// <summary>The host RAM behind it.</summary>
    public HostMemory Host { get; }

    /// <summary>
    /// Guest RAM [0, <paramref name="size"/>) mapped one to one onto host RAM [<paramref name="hostBase"/>, +<paramref name="size"/>).
    /// </summary>
    public static GuestPhysicalMemory CreateFlat(HostMemory host, ulong hostBase, ulong size, out Ept ept)
    {
        ArgumentNullException.ThrowIfNull(host);
        bool inRam = false;
        foreach (var r in host.Ranges) inRam |= r.Contains(hostBase, size);
        if (!inRam) throw new ArgumentException($"host range [0x{hostBase:x}, +0x{size:x}) is not host RAM");
        ept = new Ept();
        ept.MapRam(0, hostBase, size);
        return new GuestPhysicalMemory(ept, host);
    }

    /// <summary>Host physical address of guest RAM at <paramref name="gpa"/>; false for MMIO or unmapped pages.</summary>
    public bool TryGetHostAddress(ulong gpa, out ulong hpa) => Ept.TryRam(gpa, write: false, out hpa) && Host.Contains(hpa, 0);

    /// <summary>True when every byte of [<paramref name="address"/>, +<paramref name="length"/>) is guest RAM.</summary>
    public bool Contains(ulong address, int length) => Check(address, length, write: false);

    /// <summary>Reads guest RAM; false (data untouched) if any page is not RAM.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (!Check(address, data.Length, write: false)) return false;
        while (!data.IsEmpty)
        {
            int n = Chunk(address, data.Length);
            Ept.TryRam(address, false, out ulong hpa);
            Host.Read(hpa, data[..n]);
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }

    /// <summary>Writes guest RAM; false (nothing written) if any page is not writable RAM.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (!Check(address, data.Length, write: true)) return false;
        while (!data.IsEmpty)
        {
            int n = Chunk(address, data.Length);
            Ept.TryRam(address, true, out ulong hpa);
            Host.Write(hpa, data[..n]);
            data = data[n..];
            address += (ulong)n;
        }
        return true;
    }

    static int Chunk(ulong address, int remaining) =>
        (int)Math.Min((ulong)remaining, Ept.PageSize - (address & (Ept.PageSize - 1)));

    // Every page is checked before any byte moves, so a failed access changes nothing.
    bool Check(ulong address, int length, bool write)
    {
        if (length < 0 || (length > 0 && address + (ulong)(length - 1) < address)) return false;
        if (length == 0) return Ept.TryRam(address, write, out ulong h0) && Host.Contains(h0, 0);
        while (length > 0)
        {
            int n = Chunk(address, length);
            if (!Ept.TryRam(address, write, out ulong hpa) || !Host.Contains(hpa, n)) return false;
            length -= n;
            address += (ulong)n;
        }
        return true;
    }
}
