using System.Text.Json;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Platform.Model;

/// <summary>
/// One physical function of an endpoint: header identity, BARs, expansion ROM, capabilities, and
/// which device model implements its behaviour.
/// </summary>
public sealed record FunctionModel
{
    /// <summary>Function number: 0..7, or 0..255 in an ARI device.</summary>
    public required int Number { get; init; }
    public required string Name { get; init; }
    public required FunctionIdentity Identity { get; init; }
    /// <summary>Implemented BARs sorted by index (a 64-bit BAR also occupies index + 1).</summary>
    public required IReadOnlyList<BarDefinition> Bars { get; init; }
    /// <summary>Expansion ROM size in bytes; 0 when there is none.</summary>
    public uint ExpansionRomSize { get; init; }
    public required CapabilitiesModel Capabilities { get; init; }
    /// <summary>Device model that gives the function behaviour ("generic": registers only).</summary>
    public string DeviceKind { get; init; } = FunctionModel.GenericDeviceKind;
    /// <summary>Free-form settings for the device model (a cloned JSON object), or null.</summary>
    public JsonElement? Settings { get; init; }
    /// <summary>JSON path of this function in the model, for messages.</summary>
    public string Path { get; init; } = "";

    public const string GenericDeviceKind = "generic";

    /// <summary>The BAR defined at <paramref name="index"/> (not the upper half of a 64-bit BAR), or null.</summary>
    public BarDefinition? Bar(int index)
    {
        foreach (var b in Bars) if (b.Index == index) return b;
        return null;
    }
}

/// <summary>
/// The capabilities a function implements. The PCI Express capability is always present (every
/// PCIe function has one, §7.5.3); the others are null (or false) when absent.
/// </summary>
public sealed record CapabilitiesModel
{
    public PowerManagementModel? PowerManagement { get; init; }
    public MsiModel? Msi { get; init; }
    public MsixModel? Msix { get; init; }
    public PcieCapabilityModel Pcie { get; init; } = new();
    public AerModel? Aer { get; init; }
    public AcsModel? Acs { get; init; }
    /// <summary>Alternative Routing-ID Interpretation extended capability (§6.13).</summary>
    public bool Ari { get; init; }
    /// <summary>Device Serial Number (64-bit EUI), or null when not implemented.</summary>
    public ulong? DeviceSerialNumber { get; init; }
    public SriovModel? Sriov { get; init; }
}

/// <summary>PCI Power Management capability (PCI Bus Power Management Interface; §7.5.2.1).</summary>
public sealed record PowerManagementModel
{
    public bool D1Support { get; init; }
    public bool D2Support { get; init; }
    /// <summary>Device power states from which PME can be signalled (PMC bits 15:11).</summary>
    public PmeSupport PmeSupport { get; init; }
    /// <summary>No_Soft_Reset: a D3hot→D0 transition keeps the function's state.</summary>
    public bool NoSoftReset { get; init; } = true;
}

/// <summary>MSI capability (§7.7.1).</summary>
public sealed record MsiModel
{
    /// <summary>Vectors requested: 1, 2, 4, 8, 16 or 32.</summary>
    public int Vectors { get; init; } = 1;
    public bool Is64Bit { get; init; } = true;
    public bool PerVectorMask { get; init; }

    /// <summary>Multiple Message Capable field: log2 of <see cref="Vectors"/>.</summary>
    public int MultipleMessageCapable => System.Numerics.BitOperations.Log2((uint)Vectors);
}

/// <summary>MSI-X capability (§7.7.2): where the table and the PBA live.</summary>
public sealed record MsixModel
{
    /// <summary>Number of table entries (1..2048).</summary>
    public required int TableSize { get; init; }
    public required int TableBar { get; init; }
    public required uint TableOffset { get; init; }
    public required int PbaBar { get; init; }
    public required uint PbaOffset { get; init; }

    /// <summary>Bytes the table occupies: 16 per entry.</summary>
    public uint TableBytes => (uint)TableSize * 16;
    /// <summary>Bytes the PBA occupies: one 64-bit word per 64 vectors.</summary>
    public uint PbaBytes => (uint)((TableSize + 63) / 64) * 8;
}

/// <summary>
/// Function-specific fields of the PCI Express capability (§7.5.3). The port type follows from
/// where the function sits; link speed and width come from the port above.
/// </summary>
public sealed record PcieCapabilityModel
{
    /// <summary>Max_Payload_Size Supported in bytes: 128..4096, a power of two.</summary>
    public int MaxPayload { get; init; } = 256;
    /// <summary>Function Level Reset Capability (Device Capabilities bit 28).</summary>
    public bool Flr { get; init; }
    /// <summary>Extended Tag Field Supported (8-bit tags).</summary>
    public bool ExtendedTag { get; init; } = true;

    /// <summary>Max_Payload_Size Supported encoding: 0 = 128 … 5 = 4096.</summary>
    public int MaxPayloadEncoding => System.Numerics.BitOperations.Log2((uint)MaxPayload) - 7;
}

/// <summary>Advanced Error Reporting extended capability (§7.8.4).</summary>
public sealed record AerModel
{
    public bool EcrcGeneration { get; init; }
    public bool EcrcCheck { get; init; }
}

/// <summary>Access Control Services extended capability (§7.7.8).</summary>
public sealed record AcsModel
{
    /// <summary>ACS capabilities the function or port implements (ACS Capability Register, §7.7.8.2).</summary>
    public required AcsFeatures Features { get; init; }
    /// <summary>Egress Control Vector Size (1..256) when <see cref="AcsFeatures.P2PEgressControl"/> is supported, else 0.</summary>
    public int EgressControlVectorSize { get; init; }
}

/// <summary>
/// Single Root I/O Virtualization extended capability of a PF (§9.3.3). Values are those the PF
/// reports with ARI Capable Hierarchy set and NumVFs = TotalVFs; a device model may vary
/// FirstVfOffset and VfStride with NumVFs as the spec allows.
/// </summary>
public sealed record SriovModel
{
    public required int InitialVfs { get; init; }
    public required int TotalVfs { get; init; }
    public required ushort VfDeviceId { get; init; }
    /// <summary>First VF Offset (resolved when the model said "auto").</summary>
    public required int FirstVfOffset { get; init; }
    public required int VfStride { get; init; }
    /// <summary>Supported Page Sizes register: bit n set = page size 2^(n+12) supported.</summary>
    public required uint SupportedPageSizes { get; init; }
    /// <summary>Function Dependency Link (a function number of this device).</summary>
    public required int FunctionDependencyLink { get; init; }
    /// <summary>VF Migration Capable (SR-IOV Capabilities bit 0).</summary>
    public bool VfMigration { get; init; }
    /// <summary>Per-VF BARs (memory only), sizes as seen with a 4 KiB System Page Size.</summary>
    public required IReadOnlyList<BarDefinition> VfBars { get; init; }
    /// <summary>MSI-X of each VF, located in the VF BARs; null when VFs have no MSI-X.</summary>
    public MsixModel? VfMsix { get; init; }
    /// <summary>JSON path of this capability in the model, for messages.</summary>
    public string Path { get; init; } = "";

    /// <summary>Page sizes every PF must support: 4K, 8K, 64K, 256K, 1M, 4M (§9.3.3).</summary>
    public const uint RequiredPageSizes = 0x553;

    /// <summary>Routing ID of VF <paramref name="vfIndex"/> (0-based) of a PF at <paramref name="pfRoutingId"/>, with 16-bit wrap.</summary>
    public ushort VfRoutingId(ushort pfRoutingId, int vfIndex) =>
        (ushort)(pfRoutingId + FirstVfOffset + vfIndex * VfStride);
}
