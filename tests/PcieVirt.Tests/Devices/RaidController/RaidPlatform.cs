using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.RaidController;

/// <summary>
/// The default model booted with its RAID controller's drives shrunk to <c>driveSize</c> (64 MiB): the PF
/// (raid0, the host OS's first SR-IOV PF) driven by an <see cref="NvmeDriver"/> through ECAM and fabric
/// MMIO, VFs enabled by the host OS model (<see cref="HostSystem.Os"/>) and reached through the fabric too.
/// </summary>
internal sealed class RaidPlatform
{
    public RaidPlatform(string extraSettings = "", string driveSize = "64M")
    {
        // The default platform with small drives and no volumes: each test makes the volumes it needs.
        string json = DefaultModelJson.WithRaidSettings($"{{ \"drives\": 8, \"driveSize\": \"{driveSize}\", \"cacheSize\": \"256M\"{extraSettings} }}");
        var r = PlatformModel.Parse(json, "raid-test");
        Assert.That(r.Errors, Is.Empty);
        System = PcieSystem.Boot(r.Model!);
        Host = System.Hosts[0];
        Assert.That(Host.OsBoot?.Success, Is.True, Host.OsBoot?.ToString());
        PfAddress = Host.Os.PhysicalFunctions[0].Address;
        Device = Host.FindRaidController(PfAddress.Bdf)!;
        Assert.That(Device, Is.Not.Null);
        Memory = new HostMemoryAllocator(Host.RootComplex.HostMemory, 0x1000_0000, 0x800_0000);
        PfDriver = new NvmeDriver(Host.RootComplex, PfAddress.Bdf, Memory, new NvmeDriverOptions { Pump = Pump(Device.Primary) });
        PfDriver.Initialize();
    }

    public PcieSystem System { get; }
    public HostSystem Host { get; }
    public PciAddress PfAddress { get; }
    public RaidControllerDevice Device { get; }
    public HostMemoryAllocator Memory { get; }
    public NvmeDriver PfDriver { get; }

    static Action? Pump(NvmeController c) =>
        c.Options.Processing == NvmeProcessingMode.Explicit ? () => c.ProcessPending() : null;

    /// <summary>The host OS enables <paramref name="n"/> VFs (sriov_numvfs).</summary>
    public void EnableVfs(int n)
    {
        var r = Host.Os.EnableVfs(PfAddress, n);
        Assert.That(r.Success, Is.True, r.ToString());
    }

    public PciAddress VfAddress(int vfNumber) => Host.Os.FindPhysicalFunction(PfAddress)!.VirtualFunctions[vfNumber - 1].Address;

    public NvmeVirtualFunction Vf(int vfNumber) => (NvmeVirtualFunction)Host.RootComplex.FindFunction(VfAddress(vfNumber).Bdf)!;

    /// <summary>Virtualization Management on the PF's admin queue (NVMe 1.4 §5.22).</summary>
    public NvmeCompletion Virt(int action, int resource, ushort cntlid, int count) =>
        PfDriver.ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.VirtualizationManagement,
            Cdw10 = (uint)action | (uint)resource << 8 | (uint)cntlid << 16,
            Cdw11 = (uint)count,
        });

    /// <summary>Assigns VQ/VI resources to VF n's secondary controller and brings it online.</summary>
    public void Provision(int vfNumber, int queues = 2, int interrupts = 2)
    {
        ushort id = RaidControllerDevice.VfControllerId(vfNumber);
        Assert.That(Virt(8, 0, id, queues).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Virt(8, 1, id, interrupts).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Virt(9, 0, id, 0).Status, Is.EqualTo(NvmeStatus.Success));
    }

    /// <summary>A driver for VF n: config requests through ECAM, MMIO routed by the fabric, BAR0 where the host OS placed it.</summary>
    public NvmeDriver VfDriver(int vfNumber, NvmeDriverOptions? options = null)
    {
        var address = VfAddress(vfNumber);
        var o = options ?? new NvmeDriverOptions();
        if (o.Pump is null) o = o with { Pump = Pump(Vf(vfNumber).Controller), FirstHostVector = (byte)(0x40 + 0x10 * vfNumber) };
        return new NvmeDriver(new PcieVirt.Platform.HostOs.OsHostBus(Host, address), Memory, o);
    }
}
