using System.Buffers.Binary;
using System.Numerics;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Options of an <see cref="MsixCapability"/> (what a JSON model gives).</summary>
/// <param name="TableSize">Number of table entries, 1..2048.</param>
/// <param name="TableBar">BAR Indicator Register (BIR) of the table, 0..5.</param>
/// <param name="TableOffset">Offset of the table in that BAR, 8-byte aligned.</param>
/// <param name="PbaBar">BIR of the Pending Bit Array.</param>
/// <param name="PbaOffset">Offset of the PBA in that BAR, 8-byte aligned.</param>
public sealed record MsixOptions(int TableSize, int TableBar, uint TableOffset, int PbaBar, uint PbaOffset);

/// <summary>
/// MSI-X capability with its table and Pending Bit Array (PCIe Base Spec §7.7.2; operation §6.1.4).
/// The capability registers use config masks (Table Size RO, Function Mask and MSI-X Enable RW); the table
/// and PBA live in memory BARs and are served as <see cref="IBarRegion"/>s claimed when the function is
/// sealed. Table entries reset to masked; the PBA is read-only. A message that cannot be sent (function or
/// vector masked, Bus Master Enable clear) sets the vector's pending bit and is sent, clearing the bit, once
/// the obstacle is removed. <see cref="Trigger"/> and table/PBA accesses allocate nothing.
/// </summary>
public sealed class MsixCapability : PciStandardCapability
{
    const int MessageControl = 0x02, TableRegister = 0x04, PbaRegister = 0x08;
    const uint EnableBit = 1u << 15, FunctionMaskBit = 1u << 14;
    const uint VectorMaskBit = 1;

    readonly uint[] _table;   // 4 DWORDs per entry: address low, address high, data, vector control
    readonly ulong[] _pba;

    /// <summary>Creates the capability; see <see cref="MsixOptions"/> for the parameters.</summary>
    public MsixCapability(int tableSize, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset)
        : this(new MsixOptions(tableSize, tableBar, tableOffset, pbaBar, pbaOffset)) { }

    public MsixCapability(MsixOptions options)
    {
        var o = options;
        if (o.TableSize is < 1 or > 2048) throw new ArgumentException($"MSI-X table size {o.TableSize} is not in 1..2048");
        if (o.TableBar is < 0 or > 5 || o.PbaBar is < 0 or > 5) throw new ArgumentException("MSI-X BIR must be 0..5");
        // The low 3 bits of the Table/PBA Offset registers hold the BIR, so offsets are QWORD aligned (§7.7.2.3-4).
        if ((o.TableOffset & 7) != 0 || (o.PbaOffset & 7) != 0) throw new ArgumentException("MSI-X table and PBA offsets must be 8-byte aligned");
        Options = o;
        TableLength = 16UL * (ulong)o.TableSize;
        PbaLength = 8UL * (ulong)((o.TableSize + 63) / 64);
        if (o.TableBar == o.PbaBar && o.TableOffset < o.PbaOffset + PbaLength && o.PbaOffset < o.TableOffset + TableLength)
            throw new ArgumentException("MSI-X table and PBA overlap");
        _table = new uint[4 * o.TableSize];
        _pba = new ulong[(o.TableSize + 63) / 64];
        ResetTable();
    }

    public MsixOptions Options { get; }
    public override ushort Id => CapabilityIds.MsiX;
    public override string Name => "MSI-X";
    public override int Length => 12;

    public int TableSize => Options.TableSize;
    public int TableBar => Options.TableBar;
    public uint TableOffset => Options.TableOffset;
    public int PbaBar => Options.PbaBar;
    public uint PbaOffset => Options.PbaOffset;
    /// <summary>Bytes the table occupies in its BAR (16 per entry).</summary>
    public ulong TableLength { get; }
    /// <summary>Bytes the PBA occupies (one QWORD per 64 entries).</summary>
    public ulong PbaLength { get; }

    public bool IsEnabled => (Reg(MessageControl, 2) & EnableBit) != 0;
    public bool IsFunctionMasked => (Reg(MessageControl, 2) & FunctionMaskBit) != 0;
    public bool IsVectorMasked(int vector) => (_table[Check(vector) * 4 + 3] & VectorMaskBit) != 0;
    public bool IsPending(int vector) => (_pba[Check(vector) >> 6] & (1UL << vector)) != 0;
    public ulong MessageAddress(int vector) => _table[Check(vector) * 4] | (ulong)_table[vector * 4 + 1] << 32;
    public uint MessageData(int vector) => _table[Check(vector) * 4 + 2];

    int Check(int vector) =>
        (uint)vector < (uint)Options.TableSize ? vector : throw new ArgumentOutOfRangeException(nameof(vector));

    protected override void Layout(ConfigSpace config, int offset)
    {
        Def(MessageControl, 2, (uint)(Options.TableSize - 1), EnableBit | FunctionMaskBit, kind: RegisterKind.Mixed);
        Def(TableRegister, 4, Options.TableOffset | (uint)Options.TableBar);
        Def(PbaRegister, 4, Options.PbaOffset | (uint)Options.PbaBar);
    }

    public override void OnFunctionSealed()
    {
        CheckBar(Options.TableBar, Options.TableOffset, TableLength, "table");
        CheckBar(Options.PbaBar, Options.PbaOffset, PbaLength, "PBA");
        Function.MapRegion(Options.TableBar, Options.TableOffset, TableLength, new TableRegion(this));
        Function.MapRegion(Options.PbaBar, Options.PbaOffset, PbaLength, new PbaRegion(this));
    }

    void CheckBar(int bar, uint offset, ulong length, string what)
    {
        var def = Function.Bars[bar];
        if (def is not { IsMemory: true })
            throw new InvalidOperationException($"{Function.Name}: MSI-X {what} BIR {bar} is not a memory BAR");
        if (offset + length > def.Size)
            throw new InvalidOperationException($"{Function.Name}: MSI-X {what} 0x{offset:x}+0x{length:x} does not fit in BAR{bar} (0x{def.Size:x} bytes)");
    }

    /// <summary>
    /// The device signals vector <paramref name="vector"/>. Returns true when the message was sent now;
    /// false when MSI-X is disabled (nothing happens) or the vector is now pending.
    /// </summary>
    public bool Trigger(int vector)
    {
        Check(vector);
        if (!IsEnabled) return false;
        if (IsFunctionMasked || (_table[vector * 4 + 3] & VectorMaskBit) != 0 || !Function.BusMasterEnabled || Function.Upstream == null)
        {
            _pba[vector >> 6] |= 1UL << vector;
            Log.MessagePending(Function.Logger, Function.Name, "MSI-X", vector);
            return false;
        }
        Send(vector);
        return true;
    }

    void Send(int vector)
    {
        _pba[vector >> 6] &= ~(1UL << vector);
        int e = vector * 4;
        ulong address = _table[e] | (ulong)_table[e + 1] << 32;
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, _table[e + 2]);
        Log.MessageSent(Function.Logger, Function.Name, "MSI-X", vector, address, _table[e + 2]);
        if (!Function.Upstream!.MemoryWrite(Function.Bdf, address, payload))
            Log.MessageRejected(Function.Logger, Function.Name, "MSI-X", vector, address);
    }

    /// <summary>Sends every pending vector that is no longer masked, if MSI-X is enabled and Bus Master set.</summary>
    public void DeliverPending()
    {
        if (!IsEnabled || IsFunctionMasked || !Function.BusMasterEnabled || Function.Upstream == null) return;
        for (int w = 0; w < _pba.Length; w++)
        {
            ulong bits = _pba[w];
            while (bits != 0)
            {
                int v = w * 64 + BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                if ((_table[v * 4 + 3] & VectorMaskBit) == 0) Send(v);
            }
        }
    }

    protected override void OnWrite(int rel, int width, uint oldValue, uint written)
    {
        // Clearing Function Mask or setting MSI-X Enable releases pending vectors (§6.1.4).
        if (RegisterBits.Touches(rel, width, MessageControl, 2)) DeliverPending();
    }

    public override void OnCommandChanged(PciCommand previous, PciCommand current)
    {
        if ((current & ~previous & PciCommand.BusMaster) != 0) DeliverPending();
    }

    public override void OnReset(ResetKind kind) => ResetTable();

    void ResetTable()
    {
        // After reset every entry is masked (§7.7.2); address and data are cleared here for determinism.
        Array.Clear(_table);
        for (int i = 3; i < _table.Length; i += 4) _table[i] = VectorMaskBit;
        Array.Clear(_pba);
    }

    void WriteTableDword(int index, uint value)
    {
        int field = index & 3;
        switch (field)
        {
            case 0: _table[index] = value & ~3u; break; // Message Address is DWORD aligned
            case 1 or 2: _table[index] = value; break;
            default:
                uint before = _table[index];
                _table[index] = value & VectorMaskBit; // other Vector Control bits are reserved
                int vector = index >> 2;
                if ((before & ~value & VectorMaskBit) != 0 && (_pba[vector >> 6] & (1UL << vector)) != 0
                    && IsEnabled && !IsFunctionMasked && Function.BusMasterEnabled && Function.Upstream != null)
                    Send(vector);
                break;
        }
    }

    // Software must use aligned DWORD or QWORD accesses to the table and PBA (§7.7.2); anything else is
    // undefined, so such writes are dropped (and logged) and such reads are served byte by byte.
    static bool IsDwordOrQword(ulong offset, int length) =>
        (length == 4 && (offset & 3) == 0) || (length == 8 && (offset & 7) == 0);

    sealed class TableRegion(MsixCapability cap) : IBarRegion
    {
        public void Read(ulong offset, Span<byte> data)
        {
            var t = cap._table;
            if (IsDwordOrQword(offset, data.Length))
            {
                int i = (int)(offset >> 2);
                BinaryPrimitives.WriteUInt32LittleEndian(data, t[i]);
                if (data.Length == 8) BinaryPrimitives.WriteUInt32LittleEndian(data[4..], t[i + 1]);
                return;
            }
            for (int b = 0; b < data.Length; b++)
            {
                ulong o = offset + (ulong)b;
                data[b] = (byte)(t[(int)(o >> 2)] >> (int)(8 * (o & 3)));
            }
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (!IsDwordOrQword(offset, data.Length))
            {
                Log.MsixBadAccess(cap.Function.Logger, cap.Function.Name, "table", data.Length, offset);
                return;
            }
            int i = (int)(offset >> 2);
            cap.WriteTableDword(i, BinaryPrimitives.ReadUInt32LittleEndian(data));
            if (data.Length == 8) cap.WriteTableDword(i + 1, BinaryPrimitives.ReadUInt32LittleEndian(data[4..]));
        }
    }

    sealed class PbaRegion(MsixCapability cap) : IBarRegion
    {
        public void Read(ulong offset, Span<byte> data)
        {
            var p = cap._pba;
            for (int b = 0; b < data.Length; b++)
            {
                ulong o = offset + (ulong)b;
                data[b] = (byte)(p[(int)(o >> 3)] >> (int)(8 * (o & 7)));
            }
        }

        // Pending bits are read-only (§7.7.2): writes are ignored.
        public void Write(ulong offset, ReadOnlySpan<byte> data) { }
    }
}
