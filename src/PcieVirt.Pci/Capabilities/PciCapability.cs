using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>
/// A capability in the legacy list (ID byte, next-pointer byte; §7.5.2) or in the extended list
/// (16-bit ID, 4-bit version, 12-bit next pointer; §7.6.2). Each capability is its own type that
/// declares its registers and masks in <see cref="Layout"/> and reacts to writes in
/// <see cref="OnWrite"/>; the list links are written by <see cref="PciFunction"/>.
/// </summary>
public abstract class PciCapability : IConfigWriteObserver
{
    PciFunction? _function;

    /// <summary>Capability ID (8-bit for legacy, 16-bit for extended).</summary>
    public abstract ushort Id { get; }
    /// <summary>True for capabilities in extended config space (from 0x100).</summary>
    public abstract bool IsExtended { get; }
    /// <summary>Extended capability version (bits 19:16 of the header).</summary>
    public virtual byte Version => 1;
    /// <summary>Length in bytes, a multiple of 4, including the header.</summary>
    public abstract int Length { get; }
    /// <summary>Human name for tooling.</summary>
    public abstract string Name { get; }

    /// <summary>Config-space offset of the header, set when the function lays out its list.</summary>
    public int Offset { get; private set; }
    /// <summary>Optional fixed offset requested by the model (0 = let the function choose).</summary>
    public int PreferredOffset { get; init; }

    public PciFunction Function => _function ?? throw new InvalidOperationException($"{Name} is not installed");
    protected ConfigSpace Config => Function.Config;

    internal void Install(PciFunction function, int offset)
    {
        _function = function;
        Offset = offset;
        Layout(function.Config, offset);
        function.Config.Observe(offset, Length, this);
    }

    /// <summary>Writes the capability's registers (after the header) with reset values and masks.</summary>
    protected abstract void Layout(ConfigSpace config, int offset);

    /// <summary>Called after a masked write to one of this capability's dwords.</summary>
    /// <param name="relativeOffset">Offset of the access from the capability header.</param>
    protected virtual void OnWrite(int relativeOffset, int width, uint oldValue, uint written) { }

    /// <summary>Called after the function's config space was reset (FLR, hot reset); clears internal state.</summary>
    public virtual void OnReset(ResetKind kind) { }

    /// <summary>Called after a requester write changed the function's Command register (e.g. Bus Master Enable).</summary>
    public virtual void OnCommandChanged(PciCommand previous, PciCommand current) { }

    /// <summary>Called once every capability of the function is installed (cross-capability wiring).</summary>
    public virtual void OnFunctionSealed() { }

    void IConfigWriteObserver.OnConfigWrite(ConfigSpace config, int offset, int width, uint oldValue, uint written)
        => OnWrite(offset - Offset, width, oldValue, written);

    /// <summary>Reads a register of this capability by relative offset.</summary>
    protected uint Reg(int rel, int width) => Config.Read(Offset + rel, width);
    /// <summary>Declares a register of this capability by relative offset.</summary>
    protected void Def(int rel, int width, uint reset, uint rw = 0, uint w1c = 0, uint sticky = 0, RegisterKind kind = RegisterKind.ReadOnly)
        => Config.Define(Offset + rel, width, reset, rw, w1c, sticky, kind);
    /// <summary>Device-side update of a register (no masks).</summary>
    protected void SetReg(int rel, int width, uint value) => Config.SetRaw(Offset + rel, width, value);
}

/// <summary>A capability in the legacy list at 0x40..0xFF.</summary>
public abstract class PciStandardCapability : PciCapability
{
    public sealed override bool IsExtended => false;
}

/// <summary>A capability in the extended list at 0x100..0xFFF.</summary>
public abstract class PciExtendedCapability : PciCapability
{
    public sealed override bool IsExtended => true;
}

/// <summary>Why a function's state is being reset.</summary>
public enum ResetKind
{
    /// <summary>Function Level Reset (§6.6.2): this function only; sticky bits kept.</summary>
    FunctionLevel,
    /// <summary>Hot reset / secondary bus reset (§6.6.1): sticky bits kept.</summary>
    Hot,
    /// <summary>Cold / fundamental reset: everything to defaults.</summary>
    Fundamental,
}
