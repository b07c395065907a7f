namespace PcieVirt.Fabric;

/// <summary>
/// A physical address space software can read and write: the host's RAM, or a guest's
/// guest-physical memory (which the hypervisor maps onto host RAM). Accesses outside it fail.
/// </summary>
public interface IPhysicalMemory
{
    /// <summary>True when [<paramref name="address"/>, +<paramref name="length"/>) is memory.</summary>
    bool Contains(ulong address, int length);

    /// <summary>Reads; false (and <paramref name="data"/> left as it was) when any byte is not memory.</summary>
    bool Read(ulong address, Span<byte> data);

    /// <summary>Writes; false (nothing written) when any byte is not memory.</summary>
    bool Write(ulong address, ReadOnlySpan<byte> data);
}
