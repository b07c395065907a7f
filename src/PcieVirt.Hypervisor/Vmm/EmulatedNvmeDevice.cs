using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Cpu;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Memory;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// The storage controller a guest sees on the emulated path: an NVMe controller model living in the
/// hypervisor (as QEMU's is in its process), whose BAR is a trap region of the guest's EPT. Every guest
/// load or store to it exits; the hypervisor takes the bytes of the faulting instruction, decodes them with
/// Iced against the vCPU's registers and performs the access on the model. The model reads and writes the
/// guest's queues and buffers in guest memory, hands I/O to an asynchronous backend (the virtual disk), and
/// raises its MSI-X messages as virtual interrupts. It processes submissions only when the VMM thread runs
/// it (after a doorbell exit), not inside the exit. This is the guest driver's bus.
/// </summary>
public sealed class EmulatedNvmeDevice : ITimedHostBus, IUpstreamPort, IMmioHandler
{
    readonly VirtualMachine _vm;
    readonly TimingParameters _t;
    readonly ulong _barGuest, _barSize;
    readonly int _region;
    readonly VcpuRegisters _regs = new();
    readonly GuestMmioCode _code = new();
    readonly MmioEmulator _emulator;
    readonly byte[] _instruction = new byte[MmioDecoder.MaxInstructionLength];
    readonly ILogger? _log;

    /// <summary>
    /// An emulated controller for <paramref name="vm"/> serving namespace 1 from <paramref name="backend"/>;
    /// its BAR is placed in the VM's MMIO window and trapped.
    /// </summary>
    public EmulatedNvmeDevice(VirtualMachine vm, TimingParameters timing, INamespaceBackend backend, ILogger? logger = null)
    {
        _vm = vm;
        _t = timing;
        _log = logger;
        _emulator = new MmioEmulator(logger);
        Subsystem = new NvmeSubsystem($"nqn.2026-11.io.pcievirt:{vm.Name}:emulated");
        Subsystem.AddNamespace(1, backend);
        var options = new NvmeControllerOptions
        {
            ControllerId = 1, Bar = 0, BarSize = 0x4000, Processing = NvmeProcessingMode.Explicit,
            MaxIoQueuePairs = 4, SerialNumber = "QEMU-LIKE-0001", ModelNumber = "PcieVirt emulated NVMe controller",
            CommandOverheadNs = 0,
        };
        Function = new NvmeEndpointFunction($"{vm.Name}:emulated-nvme", new FunctionIdentity
        {
            VendorId = 0x1b36, DeviceId = 0x0010, ClassCode = NvmeEndpointFunction.NvmeClassCode, SubsystemVendorId = 0x1af4, SubsystemId = 0x1100,
        }, options, Subsystem, logger);
        Function.Seal();
        Subsystem.Attach(1, 1);
        Function.Upstream = this;
        _barSize = options.BarSize;
        _barGuest = vm.ReserveMmio(_barSize);
        // Guest firmware places the BAR (64-bit memory BAR 0).
        Function.Config.Write(PciRegs.Bar0, 4, (uint)_barGuest);
        Function.Config.Write(PciRegs.Bar0 + 4, 4, (uint)(_barGuest >> 32));
        _region = vm.Ept.MapMmioTrap(_barGuest, _barSize, Function.Name);
    }

    /// <summary>The emulated function (config space, BAR, MSI-X).</summary>
    public NvmeEndpointFunction Function { get; }
    /// <summary>Its controller model.</summary>
    public NvmeController Controller => Function.Controller;
    /// <summary>The hypervisor's virtual NVM subsystem holding the virtual disk's namespace.</summary>
    public NvmeSubsystem Subsystem { get; }
    /// <summary>The instruction emulator (its counters show the forms decoded).</summary>
    public MmioEmulator Emulator => _emulator;
    /// <summary>Guest accesses that exited to this device.</summary>
    public long Exits { get; private set; }
    /// <summary>Accesses whose instruction could not be emulated (the guest sees all ones / a dropped write).</summary>
    public long EmulationFailures { get; private set; }

    /// <summary>Called when a store hit a submission queue tail doorbell, with the vCPU's time (the VMM must process the queues).</summary>
    public Action<ulong>? DoorbellRung { get; set; }
    /// <summary>Called when the model sends an MSI-X message: the guest vector to inject.</summary>
    public Action<byte>? InterruptRaised { get; set; }

    // ------------------------------------------------------------------ the guest driver's bus

    public CpuTimeline? Cpu { get; set; }
    public string Name => Function.Name;
    public uint ConfigRead(int offset, int width) => Function.Config.Read(offset, width);
    public void ConfigWrite(int offset, int width, uint value) => Function.Config.Write(offset, width, value);
    public long InterruptCount(byte vector) => _vm.Apic.Raised;
    public ulong BarAddress(int index) => index == 0 ? _barGuest : 0;

    public CompletionStatus MemoryRead(ulong address, Span<byte> data) => Access(address, data, default, write: false);

    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data) => Access(address, default, data, write: true);

    CompletionStatus Access(ulong address, Span<byte> readData, ReadOnlySpan<byte> writeData, bool write)
    {
        var tr = _vm.Ept.Translate(address, write ? EptAccess.Write : EptAccess.Read);
        if (tr.Kind == EptResultKind.Ram)
            return (write ? _vm.Memory.Write(address, writeData) : _vm.Memory.Read(address, readData))
                ? CompletionStatus.SuccessfulCompletion : CompletionStatus.UnsupportedRequest;
        int size = write ? writeData.Length : readData.Length;
        if (tr.Kind != EptResultKind.MmioTrap || tr.TrapRegion != _region || size is not (1 or 2 or 4 or 8))
        {
            if (!write) readData.Fill(0xFF);
            return CompletionStatus.UnsupportedRequest;
        }
        // EPT violation on the trapped BAR: exit, decode the faulting instruction, emulate it.
        Exits++;
        var cpu = Cpu;
        if (cpu != null)
        {
            cpu.CountExit(ExitReason.Mmio);
            cpu.Spend(IoComponent.VmExit, _t[TimingParameter.VmExitRoundTrip], hostCpu: true);
        }
        ulong value = 0;
        if (write)
        {
            Span<byte> v = stackalloc byte[8];
            v.Clear();
            writeData.CopyTo(v);
            value = BinaryPrimitives.ReadUInt64LittleEndian(v);
        }
        var ins = write ? _code.EmitStore(address, size, value, _regs, _instruction) : _code.EmitLoad(address, size, _regs, _instruction);
        var result = _emulator.Emulate(_instruction.AsSpan(0, ins.Length), _regs, address, this);
        if (cpu != null)
        {
            cpu.Spend(IoComponent.InstructionDecode, _t[TimingParameter.InstructionDecode], hostCpu: true);
            cpu.Spend(IoComponent.ExitToUser, _t[TimingParameter.ExitToUser], hostCpu: true);
            cpu.Spend(IoComponent.DeviceModel, _t[TimingParameter.DeviceModelDispatch], hostCpu: true);
        }
        if (!result.IsEmulated)
        {
            EmulationFailures++;
            if (!write) readData.Fill(0xFF);
            return CompletionStatus.UnsupportedRequest;
        }
        if (!write)
        {
            Span<byte> v = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(v, ins.LoadedValue(_regs));
            v[..size].CopyTo(readData);
        }
        else if (IsSubmissionDoorbell(address - _barGuest))
        {
            if (cpu is null) Controller.ProcessPending(); // bring-up: no VMM thread yet, process at once
            else DoorbellRung?.Invoke(cpu.Cursor);
        }
        return CompletionStatus.SuccessfulCompletion;
    }

    // SQ y tail doorbell at 1000h + (2y) × (4 << CAP.DSTRD); this model uses DSTRD 0.
    static bool IsSubmissionDoorbell(ulong offset) => offset >= 0x1000 && offset < 0x2000 && ((offset - 0x1000) / 4) % 2 == 0;

    // ------------------------------------------------------------------ the emulator's access to the model (IMmioHandler)

    ulong IMmioHandler.Read(ulong gpa, int size)
    {
        Span<byte> v = stackalloc byte[8];
        v.Clear();
        Function.BarRead(0, gpa - _barGuest, v[..size]);
        return BinaryPrimitives.ReadUInt64LittleEndian(v);
    }

    void IMmioHandler.Write(ulong gpa, int size, ulong value)
    {
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(v, value);
        Function.BarWrite(0, gpa - _barGuest, v[..size]);
    }

    // ------------------------------------------------------------------ the model's "DMA": guest memory, and MSI-X as virtual interrupts

    bool IUpstreamPort.MemoryWrite(Bdf requester, ulong address, ReadOnlySpan<byte> data)
    {
        if (InterruptController.IsMsiAddress(address))
        {
            if (data.Length != 4) return false;
            InterruptRaised?.Invoke((byte)BinaryPrimitives.ReadUInt32LittleEndian(data));
            return true;
        }
        return _vm.Memory.Write(address, data);
    }

    bool IUpstreamPort.MemoryRead(Bdf requester, ulong address, Span<byte> data) => _vm.Memory.Read(address, data);
}
