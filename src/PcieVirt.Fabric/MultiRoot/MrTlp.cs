namespace PcieVirt.Fabric.MultiRoot;

/// <summary>The kinds of TLP the multi-root link counters distinguish.</summary>
public enum MrTlpKind
{
    /// <summary>Configuration read (Type 0 or 1).</summary>
    CfgRd,
    /// <summary>Configuration write (Type 0 or 1).</summary>
    CfgWr,
    /// <summary>Memory read request (DMA read by a function).</summary>
    MRd,
    /// <summary>Memory write request (DMA write by a function) other than an MSI.</summary>
    MWr,
    /// <summary>A memory write to the MSI address range: an MSI / MSI-X message.</summary>
    Msi,
}

/// <summary>
/// The MR-IOV local TLP prefix. Public fact: Local TLP Prefix type L0 = 0000b is assigned to MR-IOV
/// in the PCIe Base Spec's prefix table (Fmt 100b, Type[4] = 0 for local prefixes). The fields after
/// the first byte are not public; our reading (spec-notes/mriov.md) puts the VH ID in byte 1 and the
/// Virtual Link in byte 2.
/// </summary>
public readonly record struct MrIovPrefix(byte VhId, byte VirtualLink = 0)
{
    /// <summary>Byte 0 of every MR-IOV prefix: Fmt 100b (a prefix), Type 0b0000 (local, L0 = MR-IOV).</summary>
    public const byte Byte0 = 0b100_0_0000;

    /// <summary>The prefix DWORD as sent on the link, byte 0 first (big-endian as TLP headers are).</summary>
    public uint Dword => (uint)Byte0 << 24 | (uint)VhId << 16 | (uint)VirtualLink << 8;

    /// <summary>How trace lines show the prefix.</summary>
    public override string ToString() => $"MR-IOV prefix {Dword:x8} (L0 0000b, VH {VhId})";
}
