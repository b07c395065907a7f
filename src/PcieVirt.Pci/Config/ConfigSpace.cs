using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace PcieVirt.Pci.Config;

/// <summary>
/// One function's 4 KiB configuration space: the register bytes plus per-bit masks that give every
/// register its access semantics (PCIe Base Spec §7.4 "Configuration Register Types").
/// A single masked write routine serves every register of every capability, so semantics cannot
/// drift between registers; behaviour that must follow a write (VF Enable, Initiate FLR, BAR moves)
/// is attached as an <see cref="IConfigWriteObserver"/> on the dwords it owns.
/// </summary>
public sealed class ConfigSpace
{
    /// <summary>PCI Express extended configuration space size.</summary>
    public const int Size = 4096;

    readonly byte[] _data = new byte[Size];
    // Masks, reset values and observer slots: identical for every VF of a PF, so VFs share one
    // layout (copy-on-write) and an idle VF costs little more than its 4 KiB of register bytes.
    // Starts as the shared empty layout, copied on the first declaration; a VF that adopts its
    // prototype's layout before declaring anything never allocates a layout of its own.
    ConfigLayout _layout = ConfigLayout.Empty;
    IConfigWriteObserver[] _observers = [];
    bool _adopting; // laying out a function known to match the adopted layout: only register bytes are written

    /// <summary>Raw bytes (read-only view) — what a dump shows.</summary>
    public ReadOnlySpan<byte> Bytes => _data;

    /// <summary>
    /// Bumped by every path that can change a register byte (<see cref="Write"/>, <see cref="SetRaw"/>,
    /// <see cref="Define"/>, <see cref="Reset"/>), so a decision derived from these registers (a memory
    /// route, a bridge window) can be cached and checked for staleness with one comparison.
    /// </summary>
    public ulong Version => _version;
    ulong _version;

    /// <summary>Reads 1, 2 or 4 bytes at a naturally aligned offset, little-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read(int offset, int width)
    {
        CheckAccess(offset, width);
        return width switch
        {
            1 => _data[offset],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(offset, 2)),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan(offset, 4)),
        };
    }

    public byte Read8(int offset) => (byte)Read(offset, 1);
    public ushort Read16(int offset) => (ushort)Read(offset, 2);
    public uint Read32(int offset) => Read(offset, 4);

    /// <summary>
    /// A configuration write as a requester performs it: each bit takes the written value only where
    /// it is writable, RW1C bits are cleared where a 1 is written, everything else is preserved
    /// (read-only, HwInit, RsvdP) or stays zero (RsvdZ). Observers of the touched dword run afterwards.
    /// </summary>
    public void Write(int offset, int width, uint value)
    {
        CheckAccess(offset, width);
        uint old = Read(offset, width);
        _version++;
        for (int i = 0; i < width; i++)
        {
            int o = offset + i;
            byte v = (byte)(value >> (8 * i));
            byte wm = _layout.Writable[o];
            byte next = (byte)((_data[o] & ~wm) | (v & wm));
            next &= (byte)~(v & _layout.W1c[o]);
            _data[o] = next;
        }
        int slot = _layout.ObserverSlot[offset >> 2];
        if (slot != 0) _observers[slot - 1].OnConfigWrite(this, offset, width, old, value);
    }

    /// <summary>
    /// Device-side update that bypasses the access masks: hardware setting a status bit, a device
    /// model computing a read-only register (First VF Offset, Link Status), firmware HwInit values.
    /// </summary>
    public void SetRaw(int offset, int width, uint value)
    {
        if ((uint)offset > Size - (uint)width) throw new ArgumentOutOfRangeException(nameof(offset));
        _version++;
        for (int i = 0; i < width; i++) _data[offset + i] = (byte)(value >> (8 * i));
    }

    /// <summary>Sets or clears <paramref name="bits"/> in a register from the device side.</summary>
    public void SetBits(int offset, int width, uint bits, bool on)
    {
        uint v = Read(offset, width);
        SetRaw(offset, width, on ? v | bits : v & ~bits);
    }

    /// <summary>
    /// Declares a register: its reset value and which bits are RW, RW1C and sticky. Bits in none of
    /// the masks are read-only from the requester's side. <paramref name="kind"/> documents the
    /// register's dominant type for explain/lspci tooling.
    /// </summary>
    public void Define(int offset, int width, uint resetValue, uint writableMask = 0, uint w1cMask = 0,
        uint stickyMask = 0, RegisterKind kind = RegisterKind.ReadOnly)
    {
        if ((uint)offset > Size - (uint)width) throw new ArgumentOutOfRangeException(nameof(offset));
        if ((writableMask & w1cMask) != 0) throw new ArgumentException("a bit cannot be both RW and RW1C");
        _version++;
        for (int i = 0; i < width; i++)
        {
            int o = offset + i;
            int sh = 8 * i;
            _data[o] = (byte)(resetValue >> sh);
            if (_adopting) continue;
            var l = _layout;
            if (l.Defaults[o] == _data[o] && l.Writable[o] == (byte)(writableMask >> sh) && l.W1c[o] == (byte)(w1cMask >> sh)
                && l.Sticky[o] == (byte)(stickyMask >> sh) && l.Kinds[o] == kind)
                continue; // already so (a shared layout stays shared)
            l = Own();
            l.Defaults[o] = _data[o];
            l.Writable[o] = (byte)(writableMask >> sh);
            l.W1c[o] = (byte)(w1cMask >> sh);
            l.Sticky[o] = (byte)(stickyMask >> sh);
            l.Kinds[o] = kind;
        }
    }

    /// <summary>
    /// Starts from <paramref name="prototype"/>'s layout (masks, reset values, observer slots) instead of
    /// an empty one, sharing it until a register is declared differently. Call before the function is
    /// laid out; used for the VFs of one PF, which are laid out identically.
    /// </summary>
    public void AdoptLayout(ConfigSpace prototype)
    {
        prototype._layout.Shared = true;
        _layout = prototype._layout;
        _adopting = true;
    }

    /// <summary>
    /// Ends a layout begun with <see cref="AdoptLayout"/>: from now on a differing declaration copies
    /// the layout first. Checks that the function laid itself out to exactly the adopted reset image,
    /// which a function built like its prototype always does.
    /// </summary>
    public void EndAdoption()
    {
        if (!_adopting) return;
        _adopting = false;
        if (!_data.AsSpan().SequenceEqual(_layout.Defaults))
            throw new InvalidOperationException("a function that adopted a shared config layout was laid out differently from its prototype");
    }

    /// <summary>
    /// After both functions are laid out: when this layout equals <paramref name="prototype"/>'s in every
    /// mask, reset value, kind and observer slot, drop ours and share theirs (copy-on-write). For VFs a
    /// device model built and sealed itself. Returns whether the layout is now shared.
    /// </summary>
    public bool TryShareLayout(ConfigSpace prototype)
    {
        if (_adopting || ReferenceEquals(_layout, prototype._layout)) return ReferenceEquals(_layout, prototype._layout);
        var a = _layout;
        var b = prototype._layout;
        if (!a.Writable.AsSpan().SequenceEqual(b.Writable) || !a.W1c.AsSpan().SequenceEqual(b.W1c)
            || !a.Sticky.AsSpan().SequenceEqual(b.Sticky) || !a.Defaults.AsSpan().SequenceEqual(b.Defaults)
            || !a.Kinds.AsSpan().SequenceEqual(b.Kinds) || !a.ObserverSlot.AsSpan().SequenceEqual(b.ObserverSlot))
            return false;
        b.Shared = true;
        _layout = b;
        return true;
    }

    /// <summary>True while this config space shares its layout with another.</summary>
    public bool SharesLayout => _layout.Shared;

    /// <summary>The layout, copied first when it is shared (copy-on-write).</summary>
    ConfigLayout Own()
    {
        if (_layout.Shared) _layout = _layout.Clone();
        return _layout;
    }

    /// <summary>Changes only the writable mask of a register (e.g. a BAR whose size is set later).</summary>
    public void SetWritableMask(int offset, int width, uint writableMask)
    {
        if (_adopting) return;
        if (WritableMask(offset, width) == writableMask) return;
        var l = Own();
        for (int i = 0; i < width; i++) l.Writable[offset + i] = (byte)(writableMask >> (8 * i));
    }

    public uint WritableMask(int offset, int width) => Gather(_layout.Writable, offset, width);
    public uint W1cMask(int offset, int width) => Gather(_layout.W1c, offset, width);
    public uint StickyMask(int offset, int width) => Gather(_layout.Sticky, offset, width);
    public uint ResetValue(int offset, int width) => Gather(_layout.Defaults, offset, width);
    public RegisterKind KindAt(int offset) => _layout.Kinds[offset];

    /// <summary>Changes the value a register returns to on reset (device models that compute defaults).</summary>
    public void SetResetValue(int offset, int width, uint value)
    {
        if (_adopting) return;
        if (ResetValue(offset, width) == value) return;
        var l = Own();
        for (int i = 0; i < width; i++) l.Defaults[offset + i] = (byte)(value >> (8 * i));
    }

    /// <summary>Routes writes to the dwords in [<paramref name="offset"/>, +<paramref name="length"/>) to an observer.</summary>
    public void Observe(int offset, int length, IConfigWriteObserver observer)
    {
        if ((offset & 3) != 0 || (length & 3) != 0) throw new ArgumentException("observers own whole dwords");
        int slot = Array.IndexOf(_observers, observer) + 1;
        if (slot == 0)
        {
            if (_observers.Length == byte.MaxValue) throw new InvalidOperationException("too many config write observers");
            _observers = [.. _observers, observer];
            slot = _observers.Length;
        }
        if (_adopting) return;
        for (int d = offset >> 2; d < (offset + length) >> 2; d++)
            if (_layout.ObserverSlot[d] != slot) Own().ObserverSlot[d] = (byte)slot;
    }

    /// <summary>
    /// Returns every non-sticky bit to its reset value (FLR, hot reset). With
    /// <paramref name="includeSticky"/> (fundamental/cold reset) sticky bits reset too.
    /// </summary>
    public void Reset(bool includeSticky = false)
    {
        _version++;
        for (int o = 0; o < Size; o++)
        {
            byte keep = includeSticky ? (byte)0 : _layout.Sticky[o];
            _data[o] = (byte)((_data[o] & keep) | (_layout.Defaults[o] & ~keep));
        }
    }

    static uint Gather(byte[] a, int offset, int width)
    {
        uint v = 0;
        for (int i = 0; i < width; i++) v |= (uint)a[offset + i] << (8 * i);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void CheckAccess(int offset, int width)
    {
        // Config requests carry dword address + byte enables, so a 1/2/4-byte access must be naturally aligned.
        if ((width != 1 && width != 2 && width != 4) || (uint)offset > Size - (uint)width || (offset & (width - 1)) != 0)
            ThrowBadAccess(offset, width);
    }

    static void ThrowBadAccess(int offset, int width) =>
        throw new ConfigAccessException($"config access of width {width} at 0x{offset:x3} is not a naturally aligned 1, 2 or 4 byte access inside 4 KiB");

    /// <summary>True when (offset, width) is an access the config mechanism can carry.</summary>
    public static bool IsValidAccess(int offset, int width) =>
        (width == 1 || width == 2 || width == 4) && (uint)offset <= Size - (uint)width && (offset & (width - 1)) == 0;
}

/// <summary>
/// The per-register semantics of a config space: writable, RW1C and sticky masks, reset values,
/// register kinds, and which observer slot owns each dword. Shared by functions laid out alike.
/// </summary>
internal sealed class ConfigLayout
{
    public byte[] Writable = new byte[ConfigSpace.Size];
    public byte[] W1c = new byte[ConfigSpace.Size];
    public byte[] Sticky = new byte[ConfigSpace.Size];
    public byte[] Defaults = new byte[ConfigSpace.Size];
    public RegisterKind[] Kinds = new RegisterKind[ConfigSpace.Size];
    /// <summary>1-based index into the owner's observer list per dword; 0 = none.</summary>
    public byte[] ObserverSlot = new byte[ConfigSpace.Size / 4];
    public bool Shared;

    /// <summary>The layout of a config space nothing was declared in yet; shared, so never written.</summary>
    public static readonly ConfigLayout Empty = new() { Shared = true };

    public ConfigLayout Clone() => new()
    {
        Writable = (byte[])Writable.Clone(),
        W1c = (byte[])W1c.Clone(),
        Sticky = (byte[])Sticky.Clone(),
        Defaults = (byte[])Defaults.Clone(),
        Kinds = (RegisterKind[])Kinds.Clone(),
        ObserverSlot = (byte[])ObserverSlot.Clone(),
    };
}

/// <summary>Register types of PCIe Base Spec §7.4, used for documentation and explain output.</summary>
public enum RegisterKind : byte
{
    ReadOnly, ReadWrite, Write1ToClear, HwInit, RsvdP, RsvdZ, Mixed,
}

/// <summary>Receives configuration writes after the masks have been applied.</summary>
public interface IConfigWriteObserver
{
    /// <param name="config">The function's config space, already updated.</param>
    /// <param name="offset">Offset of the access.</param>
    /// <param name="width">1, 2 or 4.</param>
    /// <param name="oldValue">The accessed bytes before the write.</param>
    /// <param name="written">The value the requester wrote (before masking).</param>
    void OnConfigWrite(ConfigSpace config, int offset, int width, uint oldValue, uint written);
}

public sealed class ConfigAccessException(string message) : Exception(message);
