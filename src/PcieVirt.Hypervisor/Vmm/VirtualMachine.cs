using PcieVirt.Devices.Driver;
using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Hypervisor.Memory;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// A guest: guest-physical memory (RAM at [0, size) mapped by the EPT onto one block of host RAM), an MMIO
/// window above it where the hypervisor places device BARs, and one vCPU with its virtual APIC and
/// posted-interrupt descriptor. The guest's OS allocates its driver memory from <see cref="Allocator"/>.
/// </summary>
public sealed class VirtualMachine
{
    /// <summary>Where device BARs go in guest-physical space (the PCI hole below 4 GiB).</summary>
    public const ulong MmioWindowBase = 0xC000_0000;

    ulong _nextMmio = MmioWindowBase;

    /// <summary>A VM named <paramref name="name"/> whose RAM is host RAM [<paramref name="hostBase"/>, +<paramref name="size"/>).</summary>
    public VirtualMachine(string name, PcieVirt.Fabric.HostMemory hostMemory, ulong hostBase, ulong size)
    {
        if (size > MmioWindowBase) throw new ArgumentOutOfRangeException(nameof(size), "guest RAM must end below the MMIO window at 3 GiB");
        Name = name;
        HostBase = hostBase;
        MemorySize = size;
        Memory = GuestPhysicalMemory.CreateFlat(hostMemory, hostBase, size, out var ept);
        Ept = ept;
        // The first MiB stays for the guest's firmware and kernel, as on a PC.
        Allocator = new HostMemoryAllocator(Memory, 0x10_0000, size - 0x10_0000);
    }

    public string Name { get; }
    /// <summary>Host-physical address of guest-physical 0.</summary>
    public ulong HostBase { get; }
    /// <summary>Bytes of guest RAM.</summary>
    public ulong MemorySize { get; }
    /// <summary>The guest's physical memory as the guest sees it (through the EPT).</summary>
    public GuestPhysicalMemory Memory { get; }
    /// <summary>The second-level translation of this guest.</summary>
    public Ept Ept { get; }
    /// <summary>The guest OS's allocator for driver queues and buffers (guest-physical addresses).</summary>
    public HostMemoryAllocator Allocator { get; }
    /// <summary>The vCPU's local APIC as virtualized.</summary>
    public VirtualApic Apic { get; } = new();
    /// <summary>The vCPU's posted-interrupt descriptor (VT-d posting target).</summary>
    public PostedInterruptDescriptor PostedInterrupts { get; } = new();

    /// <summary>Reserves <paramref name="size"/> bytes (a power of two) of guest-physical MMIO space, naturally aligned.</summary>
    public ulong ReserveMmio(ulong size)
    {
        ulong at = (_nextMmio + size - 1) & ~(size - 1);
        _nextMmio = at + size;
        return at;
    }
}
