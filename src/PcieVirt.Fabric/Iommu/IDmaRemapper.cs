using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>What an interrupt remapping unit did with an MSI/MSI-X write.</summary>
public enum InterruptRemapOutcome
{
    /// <summary>Not remapped: deliver the message as written to the host interrupt controller.</summary>
    PassThrough,
    /// <summary>Remapped: deliver the replacement message to the host interrupt controller.</summary>
    Remapped,
    /// <summary>Posted into a virtual CPU's posted-interrupt descriptor; nothing reaches the host controller.</summary>
    Posted,
    /// <summary>Blocked (no valid remapping entry, or the requester may not use it); a fault is recorded.</summary>
    Blocked,
}

/// <summary>
/// An IOMMU at the root complex (Intel VT-d / AMD-Vi style): every upstream memory request a
/// function masters is translated through the domain of its requester ID, and every MSI write
/// through the interrupt remapping table. The root complex calls it for requests that reach it
/// (peer-to-peer traffic inside a switch never does). Implementations must not allocate per call.
/// </summary>
public interface IDmaRemapper
{
    /// <summary>
    /// Translates a DMA request of <paramref name="length"/> bytes at I/O virtual address
    /// <paramref name="address"/> (it never crosses a 4 KiB boundary). False: the request faults
    /// (recorded by the IOMMU) and the root complex completes it Unsupported Request.
    /// <paramref name="stallNs"/> is the extra latency the translation cost (an IOTLB miss's walk).
    /// </summary>
    bool TryTranslate(Bdf requester, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs);

    /// <summary>Remaps an MSI write (one dword at a dword-aligned address in the MSI range).</summary>
    InterruptRemapOutcome RemapInterrupt(Bdf requester, ulong address, uint data, out ulong hostAddress, out uint hostData);
}
