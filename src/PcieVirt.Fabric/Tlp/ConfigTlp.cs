using System.Globalization;
using System.Numerics;
using PcieVirt.Pci;

namespace PcieVirt.Fabric;

/// <summary>Configuration request TLP types (PCIe Base Spec §2.2.7 / Table 2-3).</summary>
public enum ConfigTlpType : byte
{
    /// <summary>Type 0 configuration read: the target is on the bus the request is issued on.</summary>
    CfgRd0,
    /// <summary>Type 0 configuration write.</summary>
    CfgWr0,
    /// <summary>Type 1 configuration read: forwarded by bridges until a Secondary Bus Number matches.</summary>
    CfgRd1,
    /// <summary>Type 1 configuration write.</summary>
    CfgWr1,
}

/// <summary>
/// One configuration request as the root complex issued it and how it completed, for tracing.
/// Register / byte enables / data follow the TLP layout (§2.2.7): a dword-aligned register number,
/// the First DW Byte Enables, and the data dword with the accessed bytes in their byte lanes.
/// </summary>
public readonly struct ConfigTlp
{
    public ConfigTlp(ConfigTlpType type, Bdf requesterId, Bdf target, int offset, int width, uint value, CompletionStatus status)
    {
        Type = type;
        RequesterId = requesterId;
        Target = target;
        Register = (ushort)(offset & 0xFFC);
        int lane = offset & 3;
        FirstByteEnables = (byte)(((1 << width) - 1) << lane);
        Data = width == 4 ? value : (value & ((1u << (8 * width)) - 1)) << (8 * lane);
        Status = status;
    }

    public ConfigTlpType Type { get; }
    /// <summary>Requester ID of the request (the root complex's host bridge).</summary>
    public Bdf RequesterId { get; }
    /// <summary>Completer the request addresses (bus, device, function).</summary>
    public Bdf Target { get; }
    /// <summary>Dword-aligned register offset (Extended Register Number and Register Number).</summary>
    public ushort Register { get; }
    /// <summary>First DW Byte Enables (bit n = byte lane n).</summary>
    public byte FirstByteEnables { get; }
    /// <summary>Write data, or the read completion's data (all ones on UR), in byte lanes.</summary>
    public uint Data { get; }
    public CompletionStatus Status { get; }

    public bool IsWrite => Type is ConfigTlpType.CfgWr0 or ConfigTlpType.CfgWr1;
    /// <summary>Byte offset of the first enabled byte.</summary>
    public int Offset => Register + BitOperations.TrailingZeroCount(FirstByteEnables | 0x10);
    /// <summary>Number of enabled bytes.</summary>
    public int Width => BitOperations.PopCount(FirstByteEnables);

    /// <summary>Short completion status names as used in the spec (SC, UR, CRS, CA).</summary>
    public static string StatusName(CompletionStatus status) => status switch
    {
        CompletionStatus.SuccessfulCompletion => "SC",
        CompletionStatus.UnsupportedRequest => "UR",
        CompletionStatus.ConfigurationRequestRetry => "CRS",
        CompletionStatus.CompleterAbort => "CA",
        _ => ((int)status).ToString(CultureInfo.InvariantCulture),
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Type} requester={RequesterId} target={Target} register=0x{Register:x3} be=0x{FirstByteEnables:x1} data=0x{Data:x8} status={StatusName(Status)}");
}
