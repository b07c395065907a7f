using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Fabric.MultiRoot;

/// <summary>
/// The Multi-Root I/O Virtualization extended capability (ID 0011h, public in Linux pci_regs.h) of an
/// MRA device's Base Function. The MR-IOV specification's register layout is not public; this is our
/// own layout (spec-notes/mriov.md):
/// <code>
/// +00 header (ID 0011h, version 1)
/// +04 MR-IOV Capabilities   [7:0] PF count (RO), [15:8] highest VH ID supported (RO)
/// +08 MR-IOV Status         [7:0] PFs currently mapped (RO)
/// +0C + 4*n  PF n mapping   [7:0] VH ID (RW), [16] Mapped (RW)
/// </code>
/// MR-PCIM writes the table from the management VH; the device reports the change through
/// <see cref="MappingChanged"/>.
/// </summary>
public sealed class MrIovCapability(int pfCount, int maxVhId = 255) : PciExtendedCapability
{
    /// <summary>Offset of the capabilities register.</summary>
    public const int CapabilitiesRegister = 0x04;
    /// <summary>Offset of the status register.</summary>
    public const int StatusRegister = 0x08;
    /// <summary>Offset of PF 0's mapping entry; entry n is 4*n further.</summary>
    public const int MappingTable = 0x0C;
    /// <summary>The Mapped bit of a mapping entry.</summary>
    public const uint MappedBit = 1u << 16;

    /// <inheritdoc/>
    public override ushort Id => 0x0011;
    /// <inheritdoc/>
    public override string Name => "Multi-Root I/O Virtualization";
    /// <inheritdoc/>
    public override int Length => MappingTable + 4 * PfCount;

    /// <summary>Number of PFs the table maps.</summary>
    public int PfCount { get; } = pfCount is >= 1 and <= 64 ? pfCount : throw new ArgumentOutOfRangeException(nameof(pfCount), "1..64 PFs");

    /// <summary>Raised after a mapping entry changed: (PF index, VH ID or null when unmapped).</summary>
    public event Action<int, int?>? MappingChanged;

    /// <summary>The VH PF <paramref name="pf"/> is mapped to, or null.</summary>
    public int? VhOf(int pf)
    {
        uint e = Reg(MappingTable + 4 * pf, 4);
        return (e & MappedBit) != 0 ? (int)(e & 0xFF) : null;
    }

    /// <inheritdoc/>
    protected override void Layout(ConfigSpace config, int offset)
    {
        Def(CapabilitiesRegister, 4, (uint)(PfCount & 0xFF) | (uint)(maxVhId & 0xFF) << 8);
        Def(StatusRegister, 4, 0);
        for (int i = 0; i < PfCount; i++) Def(MappingTable + 4 * i, 4, 0, rw: MappedBit | 0xFF, kind: RegisterKind.Mixed);
    }

    /// <inheritdoc/>
    protected override void OnWrite(int relativeOffset, int width, uint oldValue, uint written)
    {
        int rel = relativeOffset & ~3;
        if (rel < MappingTable) return;
        int pf = (rel - MappingTable) / 4;
        uint now = Reg(rel, 4);
        if (now == oldValue) return;
        int mapped = 0;
        for (int i = 0; i < PfCount; i++) if (VhOf(i) != null) mapped++;
        SetReg(StatusRegister, 4, (uint)mapped);
        MappingChanged?.Invoke(pf, VhOf(pf));
    }
}
