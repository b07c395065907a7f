using Iced.Intel;
using Microsoft.Extensions.Logging;
using PcieVirt.Hypervisor.Cpu;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Cpu;

/// <summary>
/// Completing MMIO exits: loads written back with the destination's width rules (SDM Vol. 1 §3.4.1.1;
/// MOVZX/MOVSX/MOVSXD pages of Vol. 2), RIP advance, rejections leaving the vCPU alone, counters, logging
/// and the zero-allocation hot path. Instruction bytes are derived by hand in each comment.
/// </summary>
public sealed class MmioEmulatorTests
{
    const ulong Gpa = 0x7000;
    const ulong Pattern = 0x1122_3344_5566_7788;

    static VcpuRegisters Regs()
    {
        var r = new VcpuRegisters { Rip = 0x40_0000 };
        r.Set(Register.RAX, Gpa); // every instruction below addresses [rax]
        return r;
    }

    static (VcpuRegisters Regs, MmioEmulationResult Result) Load(byte[] bytes, Register preset, ulong deviceValue)
    {
        var regs = Regs();
        regs.Set(preset, Pattern);
        var device = new RecordingMmioHandler { ReadValue = deviceValue };
        MmioEmulationResult result = new MmioEmulator().Emulate(bytes, regs, Gpa, device);
        Assert.That(result.IsEmulated, Is.True, result.Error.ToString());
        Assert.That(regs.Rip, Is.EqualTo(0x40_0000UL + (ulong)bytes.Length));
        return (regs, result);
    }

    [Test]
    public void ByteLoad_MergesIntoLowByte()
    {
        // mov cl, [rax]: 8A /r, ModRM 00 001 000 = 08.
        var (regs, _) = Load([0x8A, 0x08], Register.RCX, 0xFFFF_FFFF_FFFF_FFA5);
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(0x1122_3344_5566_77A5UL));
    }

    [Test]
    public void ByteLoad_IntoAh_MergesIntoBits15To8()
    {
        // mov ah, [rax]: 8A, ModRM 00 100 000 = 20. RAX is both base and destination; the address was taken first.
        var regs = Regs();
        var device = new RecordingMmioHandler { ReadValue = 0x5A };
        Assert.That(new MmioEmulator().Emulate([0x8A, 0x20], regs, Gpa, device).IsEmulated, Is.True);
        Assert.That(regs.Get(Register.RAX), Is.EqualTo(Gpa & ~0xFF00UL | 0x5A00));
    }

    [Test]
    public void WordLoad_PreservesUpperBits()
    {
        // mov dx, [rax]: 66 8B /r, ModRM 00 010 000 = 10.
        var (regs, _) = Load([0x66, 0x8B, 0x10], Register.RDX, 0xABCD_BEEF);
        Assert.That(regs.Get(Register.RDX), Is.EqualTo(0x1122_3344_5566_BEEFUL));
    }

    [Test]
    public void DwordLoad_ZeroExtendsIntoRegister()
    {
        // mov r9d, [rax]: REX.R 44; 8B; ModRM 00 001 000 = 08.
        var (regs, result) = Load([0x44, 0x8B, 0x08], Register.R9, 0xFFFF_FFFF_DEAD_BEEF);
        Assert.That(regs.Get(Register.R9), Is.EqualTo(0xDEAD_BEEFUL));
        Assert.That(result.LoadedValue, Is.EqualTo(0xDEAD_BEEFUL));
    }

    [Test]
    public void QwordLoad_ReplacesRegister()
    {
        // mov r15, [rax]: REX.W+R 4C; 8B; ModRM 00 111 000 = 38.
        var (regs, _) = Load([0x4C, 0x8B, 0x38], Register.R15, 0x0102_0304_0506_0708);
        Assert.That(regs.Get(Register.R15), Is.EqualTo(0x0102_0304_0506_0708UL));
    }

    [Test]
    public void MovzxByte_ClearsEverythingAbove()
    {
        // movzx ecx, byte [rax]: 0F B6 08. A 32-bit destination also clears bits 63:32.
        var (regs, _) = Load([0x0F, 0xB6, 0x08], Register.RCX, 0xFFFF_FFFF_FFFF_FF80);
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(0x80UL));
    }

    [Test]
    public void MovzxWordInto16BitRegister_PreservesUpperBits()
    {
        // movzx cx, byte [rax]: 66 0F B6 08 — 16-bit destination, bits 63:16 kept.
        var (regs, _) = Load([0x66, 0x0F, 0xB6, 0x08], Register.RCX, 0x80);
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(0x1122_3344_5566_0080UL));
    }

    [Test]
    public void MovsxByteInto32BitRegister_SignExtendsTo32ThenZeroExtends()
    {
        // movsx ecx, byte [rax]: 0F BE /r, ModRM 08.
        var (regs, _) = Load([0x0F, 0xBE, 0x08], Register.RCX, 0x80);
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(0xFFFF_FF80UL));
    }

    [Test]
    public void MovsxWordInto64BitRegister_SignExtendsFully()
    {
        // movsx rcx, word [rax]: REX.W 48; 0F BF; ModRM 08.
        var (regs, _) = Load([0x48, 0x0F, 0xBF, 0x08], Register.RCX, 0x8001);
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(0xFFFF_FFFF_FFFF_8001UL));
    }

    [Test]
    public void Movsxd_SignExtendsDword()
    {
        // movsxd rdx, dword [rax]: 48 63 10.
        var (regs, _) = Load([0x48, 0x63, 0x10], Register.RDX, 0x8000_0000);
        Assert.That(regs.Get(Register.RDX), Is.EqualTo(0xFFFF_FFFF_8000_0000UL));
    }

    [Test]
    public void Store_WritesMaskedValueAndLeavesRegistersAlone()
    {
        // mov [rax], cx: 66 89 08.
        var regs = Regs();
        regs.Set(Register.RCX, Pattern);
        var device = new RecordingMmioHandler();
        MmioEmulationResult result = new MmioEmulator().Emulate([0x66, 0x89, 0x08], regs, Gpa, device);
        Assert.That(result.IsEmulated, Is.True);
        Assert.That(device.LastWrite, Is.EqualTo((Gpa, 2, 0x7788UL)));
        Assert.That(regs.Get(Register.RCX), Is.EqualTo(Pattern));
        Assert.That(regs.Rip, Is.EqualTo(0x40_0003UL));
    }

    [Test]
    public void RipRelativeStore_AdvancesRip()
    {
        // mov dword [rip+0x100], 7: C7 /0, ModRM 00 000 101 = 05, disp32 00 01 00 00, imm32 07 00 00 00; length 10.
        var regs = new VcpuRegisters { Rip = 0x6000 };
        var device = new RecordingMmioHandler();
        byte[] bytes = [0xC7, 0x05, 0x00, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00];
        MmioEmulationResult result = new MmioEmulator().Emulate(bytes, regs, 0x6000 + 10 + 0x100, device);
        Assert.That(result.IsEmulated, Is.True, result.Error.ToString());
        Assert.That(device.LastWrite, Is.EqualTo((0x610AUL, 4, 7UL)));
        Assert.That(regs.Rip, Is.EqualTo(0x600AUL));
    }

    [Test]
    public void Rejected_LeavesVcpuAndDeviceUntouched_AndLogs()
    {
        // lock add [rax], ecx: F0 01 08.
        var regs = Regs();
        regs.Set(Register.RCX, 5);
        var before = new VcpuRegisters();
        before.CopyFrom(regs);
        var device = new RecordingMmioHandler();
        var log = new RecordingLogger();
        var emulator = new MmioEmulator(log);

        MmioEmulationResult result = emulator.Emulate([0xF0, 0x01, 0x08], regs, Gpa, device);

        Assert.That(result.IsEmulated, Is.False);
        Assert.That(result.Error, Is.EqualTo(MmioDecodeError.LockPrefix));
        Assert.That((device.Reads, device.Writes), Is.EqualTo((0, 0)));
        Assert.That(regs.Rip, Is.EqualTo(before.Rip));
        for (int i = 0; i < 16; i++)
            Assert.That(regs.GetGpr(i), Is.EqualTo(before.GetGpr(i)));
        Assert.That((emulator.InstructionsRejected, emulator.InstructionsEmulated), Is.EqualTo((1L, 0L)));
        Assert.That(emulator.CountByError(MmioDecodeError.LockPrefix), Is.EqualTo(1));
        var entry = log.Entries.Single(e => e.EventId == 7300);
        Assert.That(entry.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(entry.Message, Does.Contain("F00108").And.Contain("LockPrefix"));
    }

    [Test]
    public void AddressMismatch_DoesNotReachTheDevice()
    {
        // mov [rax+0x1008], ecx (89 88 08 10 00 00) while the exit reports a different GPA.
        var regs = Regs();
        var device = new RecordingMmioHandler();
        var emulator = new MmioEmulator();
        MmioEmulationResult result = emulator.Emulate([0x89, 0x88, 0x08, 0x10, 0x00, 0x00], regs, Gpa, device);
        Assert.That(result.Error, Is.EqualTo(MmioDecodeError.AddressMismatch));
        Assert.That((device.Reads, device.Writes), Is.EqualTo((0, 0)));
        Assert.That(regs.Rip, Is.EqualTo(0x40_0000UL));
        Assert.That(emulator.CountByError(MmioDecodeError.AddressMismatch), Is.EqualTo(1));
    }

    [Test]
    public void Counters_ByFormSizeAndAddressing()
    {
        var regs = Regs();
        var device = new RecordingMmioHandler();
        var emulator = new MmioEmulator();
        emulator.Emulate([0x89, 0x08], regs, Gpa, device);           // mov [rax], ecx
        emulator.Emulate([0x89, 0x48, 0x00], regs, Gpa, device);     // mov [rax+0], ecx (disp8)
        emulator.Emulate([0x0F, 0xB7, 0x08], regs, Gpa, device);     // movzx ecx, word [rax]
        Assert.Multiple(() =>
        {
            Assert.That(emulator.InstructionsEmulated, Is.EqualTo(3));
            Assert.That(emulator.CountByForm(MmioOperandForm.StoreRegister, 4), Is.EqualTo(2));
            Assert.That(emulator.CountByForm(MmioOperandForm.LoadZeroExtend, 2), Is.EqualTo(1));
            Assert.That(emulator.CountByForm(MmioOperandForm.Load), Is.Zero);
            Assert.That(emulator.CountByAddressing(MmioAddressingMode.Base), Is.EqualTo(2));
            Assert.That(emulator.CountByAddressing(MmioAddressingMode.BaseDisp8), Is.EqualTo(1));
        });
        emulator.ResetCounters();
        Assert.That(emulator.InstructionsEmulated + emulator.CountByForm(MmioOperandForm.StoreRegister), Is.Zero);
    }

    [Test]
    public void EmitDecodeAndEmulate_AllocateNothing()
    {
        var code = new GuestMmioCode();
        var regs = new VcpuRegisters();
        var emulator = new MmioEmulator();
        var device = new RecordingMmioHandler();
        var bytes = new byte[MmioDecoder.MaxInstructionLength];
        var decoder = new MmioDecoder();

        void Round()
        {
            for (int i = 0; i < 256; i++)
            {
                ulong gpa = 0x7E00_0000 + (ulong)(i * 8);
                int size = 1 << (i & 3);
                GuestMmioInstruction store = code.EmitStore(gpa, size, (ulong)i, regs, bytes);
                decoder.TryDecode(bytes.AsSpan(0, store.Length), regs, gpa, out _, out _);
                emulator.Emulate(bytes.AsSpan(0, store.Length), regs, gpa, device);
                GuestMmioInstruction load = code.EmitLoad(gpa, size, regs, bytes);
                emulator.Emulate(bytes.AsSpan(0, load.Length), regs, gpa, device);
            }
            // A rejected instruction with logging off also allocates nothing.
            emulator.Emulate(bytes.AsSpan(0, 0), regs, 0, device);
        }

        Round(); // warm-up: templates and tiering
        Assert.That(Allocations.SteadyState(Round), Is.Zero);
        Assert.That(emulator.InstructionsEmulated, Is.GreaterThan(0));
    }
}
