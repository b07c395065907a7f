using System.Buffers.Binary;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Hypervisor.Memory;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform.HostOs;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// A function assigned to a guest the way VFIO does it: its BAR mapped into guest-physical space by the
/// EPT (guest loads and stores reach the device with no exit) except the MSI-X table page, which traps so
/// the hypervisor can turn the guest's message into an interrupt remapping entry (posted into the vCPU, or
/// remapped to a host vector it injects); its DMA confined by an IOMMU domain that maps the guest's RAM at
/// guest-physical addresses; its config space passed through except the BARs, which show the guest's
/// addresses. This is the guest driver's bus.
/// </summary>
public sealed class AssignedFunction : ITimedHostBus, IMmioTarget
{
    readonly BenchHost _host;
    readonly VirtualMachine _vm;
    readonly Iommu.Iommu _iommu;
    readonly PciAddress _address;
    readonly PciFunction _function;
    readonly TimingParameters _t;
    readonly ulong _barHost, _barGuest, _barSize, _tableOffset;
    readonly int _tableRegion;
    readonly byte[] _guestTable;
    readonly int[] _irte;
    readonly byte _firstHostVector;
    readonly FabricMmioTarget _fabric;

    /// <summary>Assigns <paramref name="function"/> (on <paramref name="host"/>) to <paramref name="vm"/>.</summary>
    public AssignedFunction(BenchHost host, VirtualMachine vm, Iommu.Iommu iommu, PciAddress function, bool postedInterrupts, byte firstHostVector = 0x80)
    {
        _host = host;
        _vm = vm;
        _iommu = iommu;
        _address = function;
        _t = host.Timing;
        _fabric = new FabricMmioTarget(host.RootComplex);
        PostedInterrupts = postedInterrupts;
        _firstHostVector = firstHostVector;
        _function = host.RootComplex.FindFunction(function.Bdf) ?? throw new InvalidOperationException($"no function at {function}");
        var msix = _function.FindCapability<MsixCapability>() ?? throw new InvalidOperationException($"{function} has no MSI-X capability");
        if (msix.TableBar != 0) throw new InvalidOperationException($"{function}: the MSI-X table is in BAR {msix.TableBar}; only BAR 0 is assigned");
        var info = host.Host.Describe(function) ?? throw new InvalidOperationException($"the host OS does not know {function}");
        _barHost = new OsHostBus(host.Host, function).BarAddress(0);
        _barSize = info.Bars[0].Size;
        if (_barHost == 0 || _barSize < Ept.PageSize) throw new InvalidOperationException($"{function}: BAR 0 is not an assigned memory BAR");
        _barGuest = vm.ReserveMmio(_barSize);
        _tableOffset = msix.TableOffset & ~(Ept.PageSize - 1);
        ulong tablePages = (((msix.TableOffset & (Ept.PageSize - 1)) + (ulong)msix.TableSize * 16 + Ept.PageSize - 1) / Ept.PageSize) * Ept.PageSize;
        // The BAR straight through, except the MSI-X table: the hypervisor owns what messages the device sends.
        if (_tableOffset > 0) vm.Ept.MapMmioPassthrough(_barGuest, _barHost, _tableOffset);
        _tableRegion = vm.Ept.MapMmioTrap(_barGuest + _tableOffset, tablePages, $"{function} MSI-X table");
        ulong after = _tableOffset + tablePages;
        if (after < _barSize) vm.Ept.MapMmioPassthrough(_barGuest + after, _barHost + after, _barSize - after);
        _guestTable = new byte[msix.TableSize * 16];
        for (int i = 0; i < msix.TableSize; i++) _guestTable[16 * i + 12] = 1; // entries start masked (§7.7.2.5)
        _irte = new int[msix.TableSize];
        Array.Fill(_irte, -1);
        // DMA: the guest programs guest-physical addresses; the IOMMU maps all of its RAM there.
        Domain = iommu.CreateDomain($"{vm.Name}:{function}");
        Domain.Map(0, vm.HostBase, vm.MemorySize);
        iommu.Attach(function.Bdf, Domain);
    }

    /// <summary>The IOMMU domain the function's DMA is confined to.</summary>
    public IommuDomain Domain { get; }
    /// <summary>Whether the device's MSIs are posted into the vCPU (else remapped to host vectors and injected).</summary>
    public bool PostedInterrupts { get; }
    /// <summary>Where the guest sees BAR 0.</summary>
    public ulong GuestBarAddress => _barGuest;
    /// <summary>Host vector of table entry <paramref name="entry"/> when interrupts are not posted.</summary>
    public byte HostVector(int entry) => (byte)(_firstHostVector + entry);
    /// <summary>Guest vector the guest programmed into table entry <paramref name="entry"/>.</summary>
    public byte GuestVector(int entry) => _guestTable[16 * entry + 8];
    /// <summary>Trapped accesses to the MSI-X table so far.</summary>
    public long TableExits { get; private set; }

    public CpuTimeline? Cpu { get; set; }
    public string Name => $"{_address} (assigned to {_vm.Name})";

    // ------------------------------------------------------------------ config space (passed through but the BARs)

    public uint ConfigRead(int offset, int width)
    {
        if (offset is >= PciRegs.Bar0 and < PciRegs.Bar0 + 24)
        {
            Span<byte> bars = stackalloc byte[24];
            bars.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(bars, (uint)_barGuest | 0x4); // 64-bit memory BAR
            BinaryPrimitives.WriteUInt32LittleEndian(bars[4..], (uint)(_barGuest >> 32));
            int at = offset - PciRegs.Bar0;
            uint v = 0;
            for (int i = 0; i < width && at + i < 24; i++) v |= (uint)bars[at + i] << (8 * i);
            return v;
        }
        _host.RootComplex.Read(_address, offset, width, out uint value);
        return value;
    }

    public void ConfigWrite(int offset, int width, uint value)
    {
        if (offset is >= PciRegs.Bar0 and < PciRegs.Bar0 + 24) return; // the guest cannot move the BAR
        _host.RootComplex.Write(_address, offset, width, value);
    }

    public long InterruptCount(byte vector) => _vm.Apic.Raised;

    public ulong BarAddress(int index) => index == 0 ? _barGuest : 0;

    // ------------------------------------------------------------------ guest loads and stores

    public CompletionStatus MemoryRead(ulong address, Span<byte> data)
    {
        var tr = _vm.Ept.Translate(address, EptAccess.Read);
        switch (tr.Kind)
        {
            case EptResultKind.Ram:
                return _vm.Memory.Read(address, data) ? CompletionStatus.SuccessfulCompletion : CompletionStatus.UnsupportedRequest;
            case EptResultKind.MmioPassthrough:
                Cpu?.Spend(IoComponent.Doorbell, _t[TimingParameter.MmioReadRoundTrip]);
                return _host.RootComplex.MemoryRead(tr.HostAddress, data);
            case EptResultKind.MmioTrap when tr.TrapRegion == _tableRegion:
                TrapCost();
                ReadTable(address - _barGuest - TableBase, data);
                return CompletionStatus.SuccessfulCompletion;
            default:
                data.Fill(0xFF);
                return CompletionStatus.UnsupportedRequest;
        }
    }

    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data)
    {
        var tr = _vm.Ept.Translate(address, EptAccess.Write);
        switch (tr.Kind)
        {
            case EptResultKind.Ram:
                return _vm.Memory.Write(address, data) ? CompletionStatus.SuccessfulCompletion : CompletionStatus.UnsupportedRequest;
            case EptResultKind.MmioPassthrough:
                if (Cpu is not { } cpu || data.Length > 8) return _host.RootComplex.MemoryWrite(tr.HostAddress, data);
                // A store straight into the VF's BAR: posted, no exit (the bypass path).
                cpu.Spend(IoComponent.Doorbell, _t[TimingParameter.MmioPostedWrite]);
                ulong flight = _t[TimingParameter.PostedWriteLatency];
                cpu.ChargeOnly(IoComponent.Link, flight);
                _host.Posted.Post(cpu.Cursor + flight, _fabric, tr.HostAddress, data);
                return CompletionStatus.SuccessfulCompletion;
            case EptResultKind.MmioTrap when tr.TrapRegion == _tableRegion:
                TrapCost();
                WriteTable(address - _barGuest - TableBase, data);
                return CompletionStatus.SuccessfulCompletion;
            default:
                return CompletionStatus.UnsupportedRequest;
        }
    }

    void IMmioTarget.Write(ulong address, ReadOnlySpan<byte> data) => _host.RootComplex.MemoryWrite(address, data);

    // ------------------------------------------------------------------ MSI-X table emulation

    ulong TableBase => _function.FindCapability<MsixCapability>()!.TableOffset;

    void TrapCost()
    {
        TableExits++;
        if (Cpu is not { } cpu) return;
        // VFIO emulates the table in the VMM process: a full user-space exit.
        cpu.CountExit(ExitReason.Mmio);
        cpu.Spend(IoComponent.VmExit, _t[TimingParameter.VmExitRoundTrip], hostCpu: true);
        cpu.Spend(IoComponent.InstructionDecode, _t[TimingParameter.InstructionDecode], hostCpu: true);
        cpu.Spend(IoComponent.ExitToUser, _t[TimingParameter.ExitToUser], hostCpu: true);
        cpu.Spend(IoComponent.DeviceModel, _t[TimingParameter.DeviceModelDispatch], hostCpu: true);
    }

    void ReadTable(ulong offset, Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            ulong at = offset + (ulong)i;
            data[i] = at < (ulong)_guestTable.Length ? _guestTable[at] : (byte)0;
        }
    }

    void WriteTable(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset >= (ulong)_guestTable.Length) return;
        int n = (int)Math.Min((ulong)data.Length, (ulong)_guestTable.Length - offset);
        data[..n].CopyTo(_guestTable.AsSpan((int)offset, n));
        int first = (int)(offset / 16), last = (int)((offset + (ulong)n - 1) / 16);
        for (int e = first; e <= last; e++) SyncEntry(e);
    }

    /// <summary>Programs physical table entry <paramref name="entry"/> from the guest's: a remappable message whose IRTE targets the guest.</summary>
    void SyncEntry(int entry)
    {
        var g = _guestTable.AsSpan(16 * entry, 16);
        uint control = BinaryPrimitives.ReadUInt32LittleEndian(g[12..]);
        byte guestVector = g[8];
        if (_irte[entry] < 0) _irte[entry] = _iommu.AllocateIrte();
        int handle = _irte[entry];
        _iommu.SetIrte(handle, PostedInterrupts
            ? InterruptRemapEntry.Posted(_address.Bdf, _vm.PostedInterrupts, guestVector)
            : InterruptRemapEntry.Remapped(_address.Bdf, HostVector(entry), 0));
        Span<byte> phys = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(phys, Iommu.Iommu.RemappableMsiAddress(handle));
        BinaryPrimitives.WriteUInt32LittleEndian(phys[8..], 0); // subhandle 0 (SHV clear)
        BinaryPrimitives.WriteUInt32LittleEndian(phys[12..], control & 1);
        ulong at = _barHost + TableBase + 16UL * (ulong)entry;
        for (int d = 0; d < 16; d += 4) _host.RootComplex.MemoryWrite(at + (ulong)d, phys.Slice(d, 4)); // dword accesses, as drivers do
    }
}
