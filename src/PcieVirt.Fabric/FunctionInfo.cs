namespace PcieVirt.Fabric;

/// <summary>
/// One address range a function decodes, as the host OS knows it (what Linux publishes in sysfs
/// <c>resource</c>): the base address with the BAR's low flag bits (bit 0 I/O space, bits 2:1
/// memory type, bit 3 prefetchable, exactly as a BAR register encodes them) and the size in bytes.
/// A zero size means the range is not implemented.
/// </summary>
public readonly record struct BarResource(ulong Base, ulong Size)
{
    /// <summary>An unimplemented range.</summary>
    public static BarResource None => default;
}

/// <summary>
/// What the host knows about a function beyond its config registers: BAR and ROM sizes found by
/// sizing at enumeration, whether it is an SR-IOV VF (whose BARs read 0 in its own config space)
/// and which driver is bound. Tools print it as a live lspci prints sysfs information.
/// </summary>
/// <param name="Bars">Six entries for BAR0–BAR5 (two for a Type 1 header are enough); for a 64-bit BAR
/// the lower entry holds the whole range and the upper entry is <see cref="BarResource.None"/>.</param>
/// <param name="Rom">The expansion ROM range (base without the enable bit).</param>
/// <param name="IsVirtualFunction">True for an SR-IOV VF.</param>
/// <param name="PhysicalFunction">The VF's PF, when <paramref name="IsVirtualFunction"/>.</param>
/// <param name="Driver">Name of the bound driver, if any.</param>
/// <param name="PresentedVendorId">The Vendor ID the OS presents when it differs from the register: for a VF,
/// whose own register reads FFFFh, the PF's Vendor ID (Linux sysfs <c>vendor</c>).</param>
/// <param name="PresentedDeviceId">Likewise the Device ID: for a VF, the PF's VF Device ID (sysfs <c>device</c>).</param>
public sealed record FunctionInfo(
    IReadOnlyList<BarResource> Bars,
    BarResource Rom = default,
    bool IsVirtualFunction = false,
    PciAddress? PhysicalFunction = null,
    string? Driver = null,
    ushort? PresentedVendorId = null,
    ushort? PresentedDeviceId = null);
