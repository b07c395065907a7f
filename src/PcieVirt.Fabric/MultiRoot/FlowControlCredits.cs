namespace PcieVirt.Fabric.MultiRoot;

/// <summary>
/// The three flow-control classes of TLP (PCIe Base Spec §2.6.1, Flow Control Rules): posted requests
/// (memory writes, messages), non-posted requests (memory reads, configuration, I/O) and completions.
/// </summary>
public enum FcType
{
    /// <summary>Posted requests: PH and PD credits.</summary>
    Posted,
    /// <summary>Non-posted requests: NPH and NPD credits.</summary>
    NonPosted,
    /// <summary>Completions: CplH and CplD credits.</summary>
    Completion,
}

/// <summary>
/// The flow-control credits a receiver advertises for one virtual link (one VC in the Base Spec's terms),
/// in the spec's units (§2.6.1): one header credit per TLP header (with its prefixes), one data credit per
/// 4 DW (16 bytes) of payload. An advertised 0 means infinite (the InitFC rule of §2.6.1: "infinite credits").
/// </summary>
public readonly record struct FcCredits(int PostedHeader, int PostedData, int NonPostedHeader, int NonPostedData,
    int CompletionHeader, int CompletionData)
{
    /// <summary>Bytes of payload per data credit (4 DW).</summary>
    public const int DataCreditBytes = 16;

    /// <summary>Infinite credits of every type (all zero).</summary>
    public static FcCredits Infinite => default;

    /// <summary>
    /// What a switch port's receiver might advertise per VL: 32 posted and non-posted headers, 8 KiB of posted
    /// data, 4 non-posted data credits, and infinite completions (a requester on the other side of an
    /// endpoint link advertises infinite completion credits, §2.6.1).
    /// </summary>
    public static FcCredits SwitchPortDefault => new(32, 512, 32, 4, 0, 0);

    /// <summary>Data credits for a payload of <paramref name="bytes"/> (rounded up to whole 4 DW units).</summary>
    public static int DataCredits(int bytes) => bytes <= 0 ? 0 : (bytes + DataCreditBytes - 1) / DataCreditBytes;

    /// <summary>Advertised header credits of <paramref name="type"/> (0 = infinite).</summary>
    public int Header(FcType type) => type switch
    {
        FcType.Posted => PostedHeader,
        FcType.NonPosted => NonPostedHeader,
        _ => CompletionHeader,
    };

    /// <summary>Advertised data credits of <paramref name="type"/> (0 = infinite).</summary>
    public int Data(FcType type) => type switch
    {
        FcType.Posted => PostedData,
        FcType.NonPosted => NonPostedData,
        _ => CompletionData,
    };

    /// <summary>Throws when a value is negative or beyond the InitFC fields (8-bit headers, 12-bit data).</summary>
    internal void Validate()
    {
        foreach (var t in (ReadOnlySpan<FcType>)[FcType.Posted, FcType.NonPosted, FcType.Completion])
        {
            if (Header(t) is < 0 or > 127) throw new ArgumentOutOfRangeException(nameof(FcCredits), $"{t} header credits must be 0 (infinite) .. 127");
            if (Data(t) is < 0 or > 2047) throw new ArgumentOutOfRangeException(nameof(FcCredits), $"{t} data credits must be 0 (infinite) .. 2047");
        }
    }

    public override string ToString()
    {
        static string V(int v) => v == 0 ? "inf" : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $"PH {V(PostedHeader)} PD {V(PostedData)} NPH {V(NonPostedHeader)} NPD {V(NonPostedData)} CplH {V(CompletionHeader)} CplD {V(CompletionData)}";
    }
}
