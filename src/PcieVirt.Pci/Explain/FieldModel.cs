using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Explain;

/// <summary>
/// Register field attributes as the PCIe Base Spec names them (§7.4 "Configuration Register Types").
/// The S variants are sticky: kept across FLR and hot reset.
/// </summary>
public enum FieldAccess
{
    /// <summary>Read-only: the function sets it, software cannot change it.</summary>
    RO,
    /// <summary>Read-write.</summary>
    RW,
    /// <summary>Read, write 1 to clear: writing 1 clears the bit, writing 0 does nothing.</summary>
    RW1C,
    /// <summary>Set by hardware or firmware at initialisation, read-only afterwards.</summary>
    HwInit,
    /// <summary>Reserved, preserve: software must write back what it read.</summary>
    RsvdP,
    /// <summary>Reserved, zero: reads 0, software must write 0.</summary>
    RsvdZ,
    /// <summary>Read-only and sticky.</summary>
    ROS,
    /// <summary>Read-write and sticky.</summary>
    RWS,
    /// <summary>Write-1-to-clear and sticky.</summary>
    RW1CS,
}

/// <summary>Qualifiers of a declared access that the mask cross-check and the explain output honour.</summary>
[Flags]
public enum FieldFlags
{
    None = 0,
    /// <summary>The spec lets a function hardwire the field when the feature is absent: all bits follow the declared access, or none do.</summary>
    Optional = 1,
    /// <summary>Only some bits are writable and which ones depends on the implementation (BAR sizing, supported vectors or page sizes).</summary>
    Partial = 2,
    /// <summary>Writing 1 starts an action (Initiate FLR, Retrain Link); the field always reads 0, so it is not in the writable mask.</summary>
    WriteAction = 4,
}

/// <summary>One field of a register: bit range, spec name, declared access, meaning in our words.</summary>
/// <param name="Low">Lowest bit.</param>
/// <param name="High">Highest bit.</param>
/// <param name="Name">The field's name in the spec's vocabulary.</param>
/// <param name="Access">The access the spec declares for a PF or an ordinary function.</param>
/// <param name="Meaning">What the field means, in our own words.</param>
public sealed record RegisterField(int Low, int High, string Name, FieldAccess Access, string Meaning)
{
    /// <summary>Qualifiers of <see cref="Access"/>.</summary>
    public FieldFlags Flags { get; init; }
    /// <summary>The access in an SR-IOV VF when it differs (the spec's VF attribute columns); null = as <see cref="Access"/>.</summary>
    public FieldAccess? VfAccess { get; init; }
    /// <summary>Optional decoding of the field value into words (a size, a speed, a state).</summary>
    public Func<uint, string?>? Decode { get; init; }
    /// <summary>
    /// For a <see cref="FieldFlags.WriteAction"/> field, which the masks cannot show: whether the function
    /// implements the action (gets the function and the register's absolute offset). Null = always.
    /// </summary>
    public Func<PciFunction, int, bool>? ImplementedWhen { get; init; }

    /// <summary>The field's bits within its register.</summary>
    public uint Mask => (High >= 31 ? 0xFFFF_FFFFu : (1u << (High + 1)) - 1) & ~((1u << Low) - 1);

    /// <summary>The declared access for <paramref name="function"/>: the VF column for a VF.</summary>
    public FieldAccess AccessFor(PciFunction function) => function.IsVirtualFunction && VfAccess is { } v ? v : Access;

    /// <summary>The field's value in a register value.</summary>
    public uint ValueIn(uint register) => (register & Mask) >> Low;
}

/// <summary>One register: where it is, its spec section and its fields (bits not listed are reserved).</summary>
/// <param name="Name">Spec name of the register.</param>
/// <param name="Short">A short upper-case name for the command line (e.g. DEVCTL, NUMVFS).</param>
/// <param name="Offset">Offset from the capability header, or absolute for header registers.</param>
/// <param name="Width">1, 2, 3 or 4 bytes.</param>
/// <param name="Section">PCIe Base Spec section.</param>
/// <param name="Fields">Fields from the lowest bit up.</param>
public sealed record RegisterTable(string Name, string Short, int Offset, int Width, string Section, IReadOnlyList<RegisterField> Fields)
{
    /// <summary>
    /// When the register exists (or this variant of it applies) for a function; gets the function and the
    /// register's absolute offset. Null = always.
    /// </summary>
    public Func<PciFunction, int, bool>? When { get; init; }

    /// <summary>Does the register apply to <paramref name="function"/> at absolute offset <paramref name="at"/>?</summary>
    public bool AppliesTo(PciFunction function, int at) => When?.Invoke(function, at) ?? true;
}

/// <summary>The field tables of one capability type: adding a capability to explain means adding one of these.</summary>
/// <param name="Id">Capability ID.</param>
/// <param name="Extended">True for an extended capability.</param>
/// <param name="Name">Spec name.</param>
/// <param name="Section">PCIe Base Spec section of the capability.</param>
/// <param name="Aliases">Names accepted on the command line (lower case), e.g. "exp", "pcie".</param>
/// <param name="Registers">The registers after the header (header registers of the list are described by the catalog).</param>
public sealed record CapabilityTable(ushort Id, bool Extended, string Name, string Section, IReadOnlyList<string> Aliases,
    IReadOnlyList<RegisterTable> Registers);

/// <summary>Short constructors that keep the tables readable.</summary>
internal static class T
{
    public static RegisterField F(int low, int high, string name, FieldAccess access, string meaning,
        FieldFlags flags = FieldFlags.None, FieldAccess? vf = null, Func<uint, string?>? decode = null)
        => new(low, high, name, access, meaning) { Flags = flags, VfAccess = vf, Decode = decode };

    public static RegisterField B(int bit, string name, FieldAccess access, string meaning,
        FieldFlags flags = FieldFlags.None, FieldAccess? vf = null, Func<PciFunction, int, bool>? implemented = null)
        => new(bit, bit, name, access, meaning) { Flags = flags, VfAccess = vf, ImplementedWhen = implemented };

    public static RegisterTable R(string name, string shortName, int offset, int width, string section, params RegisterField[] fields)
        => new(name, shortName, offset, width, section, fields);

    public const FieldFlags Opt = FieldFlags.Optional;
    public const FieldFlags Partial = FieldFlags.Partial;
    public const FieldFlags WriteAct = FieldFlags.WriteAction;

    public static string Bytes(uint v) => v >= 1024 && v % 1024 == 0 ? $"{v / 1024} KiB" : $"{v} bytes";
    public static string? Speed(uint v) => v switch { 1 => "2.5 GT/s", 2 => "5 GT/s", 3 => "8 GT/s", 4 => "16 GT/s", 5 => "32 GT/s", 6 => "64 GT/s", _ => null };
}
