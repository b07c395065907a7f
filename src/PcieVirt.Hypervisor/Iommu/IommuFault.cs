using PcieVirt.Pci;

namespace PcieVirt.Hypervisor.Iommu;

/// <summary>
/// Why the IOMMU refused a request. The VT-d non-recoverable fault reason each one corresponds to (VT-d rev. 5.10
/// §7.1.3 "Fault Conditions and Remapping Hardware Behavior for Various Requests") is given in brackets.
/// </summary>
public enum IommuFaultReason
{
    /// <summary>The requester is attached to no domain [2h: context entry not present].</summary>
    NoDomain,
    /// <summary>The I/O virtual address is not mapped in the requester's domain [5h/6h: R and W clear in the leaf entry].</summary>
    NotMapped,
    /// <summary>A read of a page mapped without read permission [6h].</summary>
    ReadNotPermitted,
    /// <summary>A write to a page mapped without write permission [5h].</summary>
    WriteNotPermitted,
    /// <summary>The request is empty or crosses a 4 KiB boundary (PCIe Base Spec §2.2.7 forbids it; VT-d §3.13).</summary>
    Malformed,
    /// <summary>A compatibility-format interrupt while those are blocked [25h].</summary>
    CompatibilityFormatBlocked,
    /// <summary>The interrupt index is beyond the interrupt remapping table [21h].</summary>
    InterruptIndexOutOfRange,
    /// <summary>The interrupt remapping table entry is not present [22h].</summary>
    InterruptEntryNotPresent,
    /// <summary>The requester ID does not match the entry's source-id [26h].</summary>
    InterruptSourceIdMismatch,
    /// <summary>A remappable request with SHV set carries non-zero data bits 31:16 (reserved) [20h].</summary>
    InterruptRequestReserved,
}

/// <summary>A recorded IOMMU fault: who asked, for which address, read or write, and why it was refused.</summary>
public readonly record struct IommuFault(Bdf Requester, ulong Address, bool Write, IommuFaultReason Reason);
