namespace PcieVirt.Pci.Functions;

/// <summary>
/// Where a function sends requests it masters: memory reads/writes for DMA and MSI/MSI-X messages
/// (an MSI is a posted memory write, §6.1.4). The fabric implements it by routing the TLP upstream
/// with the function's requester ID; it returns false when the request is not completed
/// successfully (Bus Master disabled, Unsupported Request, IOMMU fault).
/// </summary>
public interface IUpstreamPort
{
    bool MemoryWrite(Bdf requester, ulong address, ReadOnlySpan<byte> data);
    bool MemoryRead(Bdf requester, ulong address, Span<byte> data);

    /// <summary>
    /// Running total of extra latency (ns) requests through this port have cost on the way, such as
    /// IOMMU translation misses; a device charges a command the growth across it. 0 when not modelled.
    /// </summary>
    ulong StallNs => 0;
}
