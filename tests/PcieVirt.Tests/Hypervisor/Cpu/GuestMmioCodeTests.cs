using Iced.Intel;
using PcieVirt.Hypervisor.Cpu;

namespace PcieVirt.Tests.Hypervisor.Cpu;

/// <summary>
/// The guest's compiled MMIO code against the hypervisor's decoder and emulator: every form × size ×
/// addressing × register bank goes emitter → bytes → decoder/emulator and must reach the same address,
/// size and value. A few templates are checked byte for byte against encodings derived from the SDM.
/// </summary>
public sealed class GuestMmioCodeTests
{
    static readonly ulong[] Gpas =
    [
        0x0000_0000_7FF0_1008, // below 2 GiB: every form, including [disp32] absolute
        0xFFFF_FFFF_FEE0_0010, // a sign-extended 32-bit address: absolute works too
        0x0000_0040_0000_2FF8, // above 4 GiB, where a 64-bit BAR lives: no absolute form
    ];

    static IEnumerable<TestCaseData> FormsAndAddresses()
    {
        foreach (MmioCodeForm form in GuestMmioCode.AllForms)
            foreach (ulong gpa in Gpas)
                yield return new TestCaseData(form, gpa).SetArgDisplayNames($"{form.Operand}", $"{form.Size}", $"{form.Addressing}", $"{form.Registers}", $"0x{gpa:x}");
    }

    static IEnumerable<TestCaseData> EncodableFormsAndAddresses()
    {
        foreach (MmioCodeForm form in GuestMmioCode.AllForms)
            foreach (ulong gpa in Gpas)
                if (GuestMmioCode.CanEncode(form, gpa, ValueFor(form)))
                    yield return new TestCaseData(form, gpa).SetArgDisplayNames($"{form.Operand}", $"{form.Size}", $"{form.Addressing}", $"{form.Registers}", $"0x{gpa:x}");
    }

    static ulong ValueFor(in MmioCodeForm form) =>
        // A qword immediate store can only carry a sign-extended imm32.
        form.Operand == MmioOperandForm.StoreImmediate && form.Size == 8 ? 0xFFFF_FFFF_8765_4321 : 0x8877_6655_4433_2211;

    static ulong Mask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    static VcpuRegisters JunkRegisters()
    {
        var r = new VcpuRegisters();
        for (int i = 0; i < 16; i++)
            r.SetGpr(i, 0xC3C3_C3C3_C3C3_C300UL | (uint)i);
        return r;
    }

    [TestCaseSource(nameof(FormsAndAddresses))]
    public void RoundTrip_DecoderSeesTheSameAccess(MmioCodeForm form, ulong gpa)
    {
        var code = new GuestMmioCode();
        var regs = JunkRegisters();
        var bytes = new byte[MmioDecoder.MaxInstructionLength];
        ulong value = ValueFor(form);
        if (!GuestMmioCode.CanEncode(form, gpa, value))
        {
            Assert.That(form.Addressing, Is.EqualTo(MmioAddressingMode.Absolute), "only absolute addressing is limited by the address");
            Assert.That(() => code.Emit(form, gpa, value, regs, bytes), Throws.ArgumentException);
            return;
        }

        GuestMmioInstruction emitted = code.Emit(form, gpa, value, regs, bytes);
        var decoder = new MmioDecoder();
        bool ok = decoder.TryDecode(bytes.AsSpan(0, emitted.Length), regs, gpa, out MmioAccess access, out MmioDecodeError error);

        Assert.That(error, Is.EqualTo(MmioDecodeError.None));
        Assert.That(ok, Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(access.EffectiveAddress, Is.EqualTo(gpa), "address");
            Assert.That(access.Size, Is.EqualTo(form.Size), "size");
            Assert.That(access.Form, Is.EqualTo(form.Operand), "form");
            Assert.That(access.Addressing, Is.EqualTo(form.Addressing), "addressing");
            Assert.That(access.Length, Is.EqualTo(emitted.Length), "length");
            if (access.IsWrite)
                Assert.That(access.Value, Is.EqualTo(value & Mask(form.Size)), "value");
            if (form.Operand == MmioOperandForm.StoreRegister)
                Assert.That(access.SourceRegister, Is.EqualTo(emitted.DataRegister));
            if (!access.IsWrite)
                Assert.That(access.DestinationRegister, Is.EqualTo(emitted.DataRegister));
        });
    }

    [TestCaseSource(nameof(EncodableFormsAndAddresses))]
    public void RoundTrip_EmulatorPerformsTheAccess(MmioCodeForm form, ulong gpa)
    {
        ulong value = ValueFor(form);
        var code = new GuestMmioCode();
        var regs = JunkRegisters();
        var bytes = new byte[MmioDecoder.MaxInstructionLength];
        GuestMmioInstruction emitted = code.Emit(form, gpa, value, regs, bytes);
        ulong rip = regs.Rip;
        var device = new RecordingMmioHandler { ReadValue = 0xF1E2_D3C4_B5A6_9788 };

        MmioEmulationResult result = new MmioEmulator().Emulate(bytes.AsSpan(0, emitted.Length), regs, gpa, device);

        Assert.That(result.IsEmulated, Is.True, result.Error.ToString());
        Assert.That(regs.Rip, Is.EqualTo(rip + (ulong)emitted.Length), "RIP advanced past the instruction");
        if (result.Access.IsWrite)
        {
            Assert.That(device.LastWrite, Is.EqualTo((gpa, form.Size, value & Mask(form.Size))));
            Assert.That(device.Reads, Is.Zero);
        }
        else
        {
            Assert.That(device.LastRead, Is.EqualTo((gpa, form.Size)));
            Assert.That(emitted.LoadedValue(regs), Is.EqualTo(0xF1E2_D3C4_B5A6_9788 & Mask(form.Size)), "the driver reads the device's value");
            Assert.That(device.Writes, Is.Zero);
        }
    }

    // Expected bytes derived by hand from the SDM Vol. 2 (MOV/MOVZX opcode pages, Tables 2-2/2-3, §2.2.1 REX).
    static IEnumerable<TestCaseData> HandEncoded()
    {
        // mov [rax+0x1008], ecx: 89, ModRM 10 001 000, disp32.
        yield return Case(MmioOperandForm.StoreRegister, 4, MmioAddressingMode.BaseDisp32, MmioRegisterBank.Legacy, 0x1008, 0,
            [0x89, 0x88, 0x08, 0x10, 0x00, 0x00]);
        // mov [r12], r10d: REX.R (r10) + REX.B (r12) = 45; 89; ModRM 00 010 100 = 14; SIB 00 100 100 = 24.
        yield return Case(MmioOperandForm.StoreRegister, 4, MmioAddressingMode.Base, MmioRegisterBank.Rex, 0x1000, 0,
            [0x45, 0x89, 0x14, 0x24]);
        // mov [rbx+0x7f], dh: 88; ModRM 01 110 011 = 73; disp8 7F.
        yield return Case(MmioOperandForm.StoreRegister, 1, MmioAddressingMode.BaseDisp8, MmioRegisterBank.HighByte, 0x107F, 0,
            [0x88, 0x73, 0x7F]);
        // mov [r9], sil: any REX makes reg=110 SIL; REX.B for r9 = 41; 88; ModRM 00 110 001 = 31.
        yield return Case(MmioOperandForm.StoreRegister, 1, MmioAddressingMode.Base, MmioRegisterBank.RexByte, 0x2000, 0,
            [0x41, 0x88, 0x31]);
        // mov word [rax+0x18], 0xbeef: 66; C7 /0; ModRM 01 000 000 = 40; disp8 18; imm16 EF BE.
        yield return Case(MmioOperandForm.StoreImmediate, 2, MmioAddressingMode.BaseDisp8, MmioRegisterBank.Legacy, 0x3018, 0xBEEF,
            [0x66, 0xC7, 0x40, 0x18, 0xEF, 0xBE]);
        // mov rcx, [0x7ff01008]: REX.W 48; 8B; ModRM 00 001 100 = 0C; SIB 00 100 101 = 25; disp32.
        yield return Case(MmioOperandForm.Load, 8, MmioAddressingMode.Absolute, MmioRegisterBank.Legacy, 0x7FF0_1008, 0,
            [0x48, 0x8B, 0x0C, 0x25, 0x08, 0x10, 0xF0, 0x7F]);
        // mov ecx, [rip+0x2000]: 8B; ModRM 00 001 101 = 0D; disp32 00 20 00 00.
        yield return Case(MmioOperandForm.Load, 4, MmioAddressingMode.RipRelative, MmioRegisterBank.Legacy, 0x5000, 0,
            [0x8B, 0x0D, 0x00, 0x20, 0x00, 0x00]);
        // movzx ecx, byte [rax]: 0F B6; ModRM 00 001 000 = 08.
        yield return Case(MmioOperandForm.LoadZeroExtend, 1, MmioAddressingMode.Base, MmioRegisterBank.Legacy, 0x6000, 0,
            [0x0F, 0xB6, 0x08]);
        // mov [r12+r13*2-0x40], r10: REX 0100 W=1 R=1 X=1 B=1 = 4F; 89; ModRM 01 010 100 = 54; SIB 01 101 100 = 6C; disp8 C0.
        yield return Case(MmioOperandForm.StoreRegister, 8, MmioAddressingMode.BaseIndexScaleDisp, MmioRegisterBank.Rex, 0x7000, 0,
            [0x4F, 0x89, 0x54, 0x6C, 0xC0]);

        static TestCaseData Case(MmioOperandForm op, int size, MmioAddressingMode mode, MmioRegisterBank bank, ulong gpa, ulong value, byte[] expected) =>
            new TestCaseData(new MmioCodeForm(op, size, mode, bank), gpa, value, expected)
                .SetArgDisplayNames($"{op}", $"{size}", $"{mode}", $"{bank}");
    }

    [TestCaseSource(nameof(HandEncoded))]
    public void Emit_MatchesHandEncodedBytes(MmioCodeForm form, ulong gpa, ulong value, byte[] expected)
    {
        var bytes = new byte[MmioDecoder.MaxInstructionLength];
        GuestMmioInstruction emitted = new GuestMmioCode().Emit(form, gpa, value, new VcpuRegisters(), bytes);
        Assert.That(bytes.AsSpan(0, emitted.Length).ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void Emit_SetsRegistersForTheAddress()
    {
        var regs = new VcpuRegisters();
        var bytes = new byte[15];
        var code = new GuestMmioCode();
        // [rsi*4 + rax + 0x20] with RSI = IndexValue.
        code.Emit(new MmioCodeForm(MmioOperandForm.StoreRegister, 4, MmioAddressingMode.BaseIndexScaleDisp, MmioRegisterBank.Legacy), 0x9000, 0xAB, regs, bytes);
        Assert.That(regs.Get(Register.RSI), Is.EqualTo(GuestMmioCode.IndexValue));
        Assert.That(regs.Get(Register.RAX) + GuestMmioCode.IndexValue * 4 + 0x20, Is.EqualTo(0x9000UL));
        Assert.That(regs.Get(Register.ECX), Is.EqualTo(0xABUL));
        Assert.That(regs.Rip, Is.EqualTo(GuestMmioCode.DefaultCodeAddress));
        // mov ecx, [rip+0x2000] is 6 bytes: RIP = gpa - 0x2000 - 6.
        code.Emit(new MmioCodeForm(MmioOperandForm.Load, 4, MmioAddressingMode.RipRelative, MmioRegisterBank.Legacy), 0x9000, 0, regs, bytes);
        Assert.That(regs.Rip, Is.EqualTo(0x9000UL - 0x2000 - 6));
    }

    [Test]
    public void QwordImmediate_CannotCarryAValueOutsideSignExtendedImm32()
    {
        var form = new MmioCodeForm(MmioOperandForm.StoreImmediate, 8, MmioAddressingMode.Base, MmioRegisterBank.Legacy);
        Assert.That(GuestMmioCode.CanEncode(form, 0x1000, 0x8000_0000), Is.False);
        Assert.That(GuestMmioCode.CanEncode(form, 0x1000, 0xFFFF_FFFF_8000_0000), Is.True);
    }

    [Test]
    public void InvalidForms_AreNotEmitted()
    {
        Assert.That(GuestMmioCode.IsValid(new MmioCodeForm(MmioOperandForm.LoadZeroExtend, 4, MmioAddressingMode.Base, MmioRegisterBank.Legacy)), Is.False);
        Assert.That(GuestMmioCode.IsValid(new MmioCodeForm(MmioOperandForm.Load, 3, MmioAddressingMode.Base, MmioRegisterBank.Legacy)), Is.False);
        Assert.That(GuestMmioCode.AllForms, Has.Count.EqualTo(16 * 6 * 4), "4+4+4+2+2 operation/size pairs × 6 addressing modes × 4 banks");
    }

    [TestCase(true, 1)]
    [TestCase(true, 2)]
    [TestCase(true, 4)]
    [TestCase(true, 8)]
    [TestCase(false, 1)]
    [TestCase(false, 2)]
    [TestCase(false, 4)]
    [TestCase(false, 8)]
    public void Rotation_VisitsEveryFormOfThatDirectionAndSize(bool isWrite, int size)
    {
        var expected = GuestMmioCode.AllForms.Where(f => f.Size == size && (f.Operand is MmioOperandForm.StoreRegister or MmioOperandForm.StoreImmediate) == isWrite).ToHashSet();
        var seen = new HashSet<MmioCodeForm>();
        for (ulong seq = 0; seq < (ulong)expected.Count; seq++)
            seen.Add(GuestMmioCode.Select(isWrite, size, 0x1000, 0x12, seq));
        Assert.That(seen, Is.EquivalentTo(expected));
        MmioCodeForm first = GuestMmioCode.Select(isWrite, size, 0x1000, 0x12, 5);
        Assert.That(GuestMmioCode.Select(isWrite, size, 0x1000, 0x12, 5), Is.EqualTo(first), "deterministic");
    }

    [Test]
    public void Rotation_SkipsAbsoluteForHighAddresses()
    {
        for (ulong seq = 0; seq < 200; seq++)
            Assert.That(GuestMmioCode.Select(true, 4, 0x40_0000_0000, 1, seq).Addressing, Is.Not.EqualTo(MmioAddressingMode.Absolute));
    }

    [Test]
    public void EmitStoreAndLoad_DriveADeviceThroughTheEmulator()
    {
        var code = new GuestMmioCode();
        var regs = new VcpuRegisters();
        var emulator = new MmioEmulator();
        var device = new RecordingMmioHandler();
        var bytes = new byte[15];
        for (int i = 0; i < 200; i++)
        {
            ulong gpa = 0x7E00_0000 + (ulong)i * 8; // below 2 GiB, so absolute addressing is in the rotation
            int size = 1 << (i % 4);
            GuestMmioInstruction store = code.EmitStore(gpa, size, (ulong)i * 0x0102_0304, regs, bytes);
            Assert.That(emulator.Emulate(bytes.AsSpan(0, store.Length), regs, gpa, device).IsEmulated, Is.True);
            Assert.That(device.LastWrite, Is.EqualTo((gpa, size, ((ulong)i * 0x0102_0304) & Mask(size))));
            device.ReadValue = (ulong)i * 0x1111;
            GuestMmioInstruction load = code.EmitLoad(gpa, size, regs, bytes);
            Assert.That(emulator.Emulate(bytes.AsSpan(0, load.Length), regs, gpa, device).IsEmulated, Is.True);
            Assert.That(load.LoadedValue(regs), Is.EqualTo(((ulong)i * 0x1111) & Mask(size)));
        }
        Assert.That(emulator.InstructionsEmulated, Is.EqualTo(400));
        foreach (MmioAddressingMode mode in Enum.GetValues<MmioAddressingMode>())
            Assert.That(emulator.CountByAddressing(mode), Is.GreaterThan(0), $"{mode} exercised");
        foreach (MmioOperandForm form in Enum.GetValues<MmioOperandForm>())
            Assert.That(emulator.CountByForm(form), Is.GreaterThan(0), $"{form} exercised");
    }
}
