using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>
/// Sees the TLPs crossing one bus's link: configuration requests routed down to the bus, and memory
/// requests (DMA, MSI) functions on the bus master upstream. Set on a <see cref="PciBus"/> by the
/// multi-root switch model to tag and count TLPs per virtual hierarchy. Must not allocate.
/// </summary>
internal interface ILinkTap
{
    /// <summary>A configuration request reached the bus (completed with <paramref name="status"/>).</summary>
    void Config(bool write, Bdf target, CompletionStatus status);

    /// <summary>A function on the bus mastered a memory request of <paramref name="length"/> bytes.</summary>
    void Upstream(bool write, Bdf requester, ulong address, int length);
}
