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

    /// <summary>
    /// Zero-copy seam for a memory write TLP of <paramref name="length"/> bytes (not crossing 4 KiB):
    /// the fabric routes and checks it exactly as <see cref="MemoryWrite"/> would (Bus Master Enable,
    /// bridges, IOMMU translation, logging) and, when it ends in plain host RAM, hands out that RAM as
    /// <paramref name="memory"/> for the device to fill in place of a copy. The span is valid only
    /// until the device's next request. <see cref="DmaMapStatus.Unavailable"/>: nothing happened, use
    /// <see cref="MemoryWrite"/>; <see cref="DmaMapStatus.Failed"/>: the TLP was issued and not completed.
    /// </summary>
    DmaMapStatus MapForWrite(Bdf requester, ulong address, int length, out Span<byte> memory)
    {
        memory = default;
        return DmaMapStatus.Unavailable;
    }

    /// <summary>Zero-copy seam for a memory read TLP: as <see cref="MapForWrite"/>, the RAM to read from.</summary>
    DmaMapStatus MapForRead(Bdf requester, ulong address, int length, out ReadOnlySpan<byte> memory)
    {
        memory = default;
        return DmaMapStatus.Unavailable;
    }
}

/// <summary>Outcome of a zero-copy DMA mapping request (<see cref="IUpstreamPort.MapForWrite"/>).</summary>
public enum DmaMapStatus
{
    /// <summary>Not a plain host-RAM target (or the port has no zero-copy path): nothing was issued; copy instead.</summary>
    Unavailable,
    /// <summary>The TLP completed successfully: the span is the host RAM it addressed.</summary>
    Mapped,
    /// <summary>The TLP was issued and not completed successfully (BME clear, UR, IOMMU fault).</summary>
    Failed,
}
