using System.Buffers.Binary;
using System.Numerics;
using PcieVirt.Pci.Config;

namespace PcieVirt.Pci.Capabilities;

/// <summary>Options of an <see cref="MsiCapability"/>.</summary>
public sealed record MsiOptions
{
    /// <summary>Vectors the function requests (Multiple Message Capable): 1, 2, 4, 8, 16 or 32.</summary>
    public int VectorsRequested { get; init; } = 1;
    /// <summary>64 bit address capable: adds the Message Upper Address register.</summary>
    public bool Address64 { get; init; } = true;
    /// <summary>Per-vector masking capable: adds the Mask Bits and Pending Bits registers.</summary>
    public bool PerVectorMasking { get; init; }
}

/// <summary>
/// MSI capability (PCIe Base Spec §7.7.1; operation §6.1.4). Register semantics come from masks;
/// <see cref="Trigger"/> is the device side. A message is a DWORD memory write to Message Address whose
/// data is Message Data with its low log2(allocated) bits replaced by the vector number.
/// <para>Modelling choices: a Multiple Message Enable larger than Multiple Message Capable (undefined in
/// the spec) is clamped to Multiple Message Capable, and reserved encodings 110b/111b likewise. A vector
/// the device triggers beyond the allocated count is folded into the allocated range (vector modulo the
/// allocation) since the function may only alter the allocated low data bits. Messages that cannot be sent
/// because Bus Master Enable is clear (§7.5.1.1.3) or the vector is masked are held pending and sent once
/// the obstacle is removed.</para>
/// </summary>
public sealed class MsiCapability(MsiOptions? options = null) : PciStandardCapability
{
    const int MessageControl = 0x02, AddressLow = 0x04;
    const uint EnableBit = 1, Cap64Bit = 1 << 7, PerVectorMaskCap = 1 << 8;

    public MsiOptions Options { get; } = Validate(options ?? new MsiOptions());
    readonly int _dataRel = (options?.Address64 ?? true) ? 0x0C : 0x08;
    uint _heldWithoutMaskBits; // pending state when the Pending Bits register is not implemented

    public override ushort Id => CapabilityIds.Msi;
    public override string Name => "MSI";
    public override int Length => Options.PerVectorMasking ? _dataRel + 0x0C : _dataRel + 4;

    int MaskRel => _dataRel + 4;
    int PendingRel => _dataRel + 8;
    int MultipleMessageCapable => BitOperations.Log2((uint)Options.VectorsRequested);
    uint ImplementedVectors => Options.VectorsRequested == 32 ? 0xFFFF_FFFFu : (1u << Options.VectorsRequested) - 1;

    static MsiOptions Validate(MsiOptions o)
    {
        if (o.VectorsRequested is not (1 or 2 or 4 or 8 or 16 or 32))
            throw new ArgumentException($"MSI vectors requested must be 1, 2, 4, 8, 16 or 32, not {o.VectorsRequested}");
        return o;
    }

    protected override void Layout(ConfigSpace config, int offset)
    {
        uint control = (uint)MultipleMessageCapable << 1
            | (Options.Address64 ? Cap64Bit : 0)
            | (Options.PerVectorMasking ? PerVectorMaskCap : 0);
        // MSI Enable (bit 0) and Multiple Message Enable (6:4) are RW; the rest is RO (§7.7.1.2).
        Def(MessageControl, 2, control, 0x0071, kind: RegisterKind.Mixed);
        Def(AddressLow, 4, 0, 0xFFFF_FFFC, kind: RegisterKind.ReadWrite); // DWORD aligned: bits 1:0 read 0
        if (Options.Address64) Def(0x08, 4, 0, 0xFFFF_FFFF, kind: RegisterKind.ReadWrite);
        Def(_dataRel, 2, 0, 0xFFFF, kind: RegisterKind.ReadWrite);
        Def(_dataRel + 2, 2, 0); // Extended Message Data: not capable
        if (Options.PerVectorMasking)
        {
            Def(MaskRel, 4, 0, ImplementedVectors, kind: RegisterKind.ReadWrite);
            Def(PendingRel, 4, 0);
        }
    }

    public bool IsEnabled => (Reg(MessageControl, 2) & EnableBit) != 0;
    /// <summary>Vectors allocated by software (2^Multiple Message Enable).</summary>
    public int VectorsAllocated => 1 << (int)((Reg(MessageControl, 2) >> 4) & 7);
    public ulong MessageAddress =>
        Reg(AddressLow, 4) | (Options.Address64 ? (ulong)Reg(0x08, 4) << 32 : 0);
    public ushort MessageData => (ushort)Reg(_dataRel, 2);
    public bool IsMasked(int vector) => Options.PerVectorMasking && (Reg(MaskRel, 4) & (1u << vector)) != 0;
    public bool IsPending(int vector) => (PendingBits & (1u << vector)) != 0;
    uint PendingBits => Options.PerVectorMasking ? Reg(PendingRel, 4) : _heldWithoutMaskBits;

    void SetPending(int vector, bool on)
    {
        if (Options.PerVectorMasking) Config.SetBits(Offset + PendingRel, 4, 1u << vector, on);
        else _heldWithoutMaskBits = on ? _heldWithoutMaskBits | 1u << vector : _heldWithoutMaskBits & ~(1u << vector);
    }

    /// <summary>
    /// The device signals interrupt <paramref name="vector"/> (0 ≤ vector &lt; VectorsRequested).
    /// Returns true when a message was sent now; false when MSI is disabled (nothing happens) or the
    /// message is held pending (masked, Bus Master Enable clear, no upstream).
    /// </summary>
    public bool Trigger(int vector)
    {
        if ((uint)vector >= (uint)Options.VectorsRequested) throw new ArgumentOutOfRangeException(nameof(vector));
        if (!IsEnabled) return false;
        vector &= VectorsAllocated - 1;
        if (IsMasked(vector) || !Function.BusMasterEnabled || Function.Upstream == null)
        {
            SetPending(vector, true);
            Log.MessagePending(Function.Logger, Function.Name, "MSI", vector);
            return false;
        }
        Send(vector);
        return true;
    }

    void Send(int vector)
    {
        SetPending(vector, false);
        ulong address = MessageAddress;
        uint data = (uint)(MessageData & ~(VectorsAllocated - 1) | vector);
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, data); // Message Data in bytes 0-1, upper 16 bits 0
        Log.MessageSent(Function.Logger, Function.Name, "MSI", vector, address, data);
        if (!Function.Upstream!.MemoryWrite(Function.Bdf, address, payload))
            Log.MessageRejected(Function.Logger, Function.Name, "MSI", vector, address);
    }

    /// <summary>Sends every pending message that is no longer blocked (enabled, unmasked, Bus Master set).</summary>
    public void DeliverPending()
    {
        if (!IsEnabled || !Function.BusMasterEnabled || Function.Upstream == null) return;
        uint pending = PendingBits & (uint)((1L << VectorsAllocated) - 1);
        while (pending != 0)
        {
            int v = BitOperations.TrailingZeroCount(pending);
            pending &= pending - 1;
            if (!IsMasked(v)) Send(v);
        }
    }

    protected override void OnWrite(int rel, int width, uint oldValue, uint written)
    {
        if (RegisterBits.Touches(rel, width, MessageControl, 2))
        {
            uint control = Reg(MessageControl, 2);
            int mme = (int)((control >> 4) & 7);
            if (mme > MultipleMessageCapable)
            {
                SetReg(MessageControl, 2, (control & ~0x70u) | (uint)MultipleMessageCapable << 4);
                Log.MsiMultipleMessageClamped(Function.Logger, Function.Name, mme, MultipleMessageCapable);
            }
        }
        // Enabling MSI, unmasking a vector or growing the allocation may release held messages (§6.1.4).
        if (RegisterBits.Touches(rel, width, MessageControl, 2) || (Options.PerVectorMasking && RegisterBits.Touches(rel, width, MaskRel, 4)))
            DeliverPending();
    }

    public override void OnCommandChanged(PciCommand previous, PciCommand current)
    {
        if ((current & ~previous & PciCommand.BusMaster) != 0) DeliverPending();
    }

    public override void OnReset(ResetKind kind) => _heldWithoutMaskBits = 0;
}
