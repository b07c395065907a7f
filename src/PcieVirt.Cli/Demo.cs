using PcieVirt.Fabric;
using PcieVirt.PciUtils;

namespace PcieVirt.Cli;

/// <summary>
/// The main job: build the default platform, let firmware enumerate it, and show what a driver
/// developer would look at first. Later issues extend it (SR-IOV, I/O paths, MR-IOV).
/// </summary>
public static class Demo
{
    public static int Run(Session session, TextWriter o)
    {
        var system = session.System;
        o.WriteLine($"PcieVirt demo: platform '{system.Model.Name}'");
        if (system.Model.Description is { Length: > 0 } d) o.WriteLine($"  {d}");
        o.WriteLine();

        int status = 0;
        foreach (var host in system.Hosts)
        {
            var r = host.Enumeration!;
            o.WriteLine($"== 1. Firmware enumeration of {host.Name} (segment {host.RootComplex.Segment:x4}, ECAM at 0x{host.RootComplex.EcamWindow.Base:x})");
            o.WriteLine($"   {r.Functions.Count} functions found; buses {host.RootComplex.StartBus:x2}..{r.LastBus:x2} assigned depth first; {r.Failures.Count} failures");
            foreach (var b in r.Bridges)
                o.WriteLine($"   bridge {b.Address}: bus {b.PrimaryBus:x2} -> [{b.SecondaryBus:x2}..{b.SubordinateBus:x2}]  mem {b.MemoryWindow}  pref {b.PrefetchableWindow}  io {b.IoWindow}");
            foreach (var bar in r.Bars)
                o.WriteLine($"   {bar}");
            foreach (var f in r.Failures) o.WriteLine($"   failure: {f}");
            if (!r.Succeeded) status = 1;
            o.WriteLine();
        }

        o.WriteLine("== 2. The tree, as `lspci -tv` prints it");
        status |= session.Execute(["lspci", "-tv"]);
        o.WriteLine();
        o.WriteLine("== 3. Every function, as `lspci -nn` prints it");
        status |= session.Execute(["lspci", "-nn"]);
        o.WriteLine();

        // The first endpoint with the most capabilities is the interesting one to decode in full.
        var host0 = system.Hosts[0];
        PciAddress? target = null;
        int best = -1;
        foreach (var a in host0.Functions())
        {
            var f = host0.RootComplex.FindFunction(a.Bdf);
            if (f is null || f.IsBridge) continue;
            if (f.Capabilities.Count > best) { best = f.Capabilities.Count; target = a; }
        }
        if (target is { } t)
        {
            o.WriteLine($"== 4. The richest endpoint decoded, as `lspci -vvv -s {t}` prints it");
            status |= session.Execute(["lspci", "-vvv", "-s", t.ToString()]);
            o.WriteLine();
            o.WriteLine($"== 5. Config registers with setpci: Command, BAR0 and the PCIe Device Control (devicemodels/scripts/bar-sizing.pcv sizes a BAR)");
            status |= session.Execute(["setpci", "-v", "-s", t.ToString(), "COMMAND.W", "BASE_ADDRESS_0.L", "CAP_EXP+8.W"]);
        }

        // SR-IOV: the first PF with an SR-IOV capability gets four VFs the way Linux enables them.
        foreach (var a in host0.Functions())
        {
            if (host0.RootComplex.FindFunction(a.Bdf)?.FindCapability<PcieVirt.Pci.Capabilities.SriovCapability>() is null) continue;
            o.WriteLine();
            o.WriteLine($"== 6. SR-IOV: `sriov {a} numvfs=4` runs Linux's enable sequence on the PF (virtual time: {host0.RootComplex.Clock.Now} ns)");
            status |= session.Execute(["sriov", a.ToString(), "numvfs=4"]);
            o.WriteLine();
            o.WriteLine($"   what sysfs shows (`sriov {a}`):");
            status |= session.Execute(["sriov", a.ToString()]);
            o.WriteLine();
            o.WriteLine($"   the PF and its VFs, as `lspci -nn -s {a.Bdf.Bus:x2}:` prints them:");
            status |= session.Execute(["lspci", "-nn", "-s", $"{a.Bdf.Bus:x2}:"]);
            break;
        }

        // The RAID controller: its volumes are NVMe namespaces of the PF and of its VFs.
        foreach (var raid in host0.RaidControllers())
        {
            string bdf = raid.Bdf.ToString();
            o.WriteLine();
            o.WriteLine($"== 7. The RAID controller at {bdf}: drives and volumes (`raid {bdf} volumes`)");
            status |= session.Execute(["raid", bdf, "volumes"]);
            o.WriteLine();
            o.WriteLine($"   2,000 verified 4 KiB random reads and writes through the PF's NVMe queues, latency in virtual time");
            o.WriteLine($"   (`io --function {bdf} --rw randrw --bs 4k --iodepth 8 --ops 2000 --verify --seed 1`):");
            status |= session.Execute(["io", "--function", bdf, "--rw", "randrw", "--bs", "4k", "--iodepth", "8", "--ops", "2000", "--verify", "--seed", "1"]);
            break;
        }

        // Several hosts sharing the controller (issue 6): described here, shown by its own model.
        if (host0.RaidControllers().Any())
        {
            o.WriteLine();
            o.WriteLine("== 8. Multi-root: devicemodels/mriov-2host.json puts a RAID controller with two PFs behind a multi-root aware");
            o.WriteLine("   switch shared by two hosts; each host enumerates its own virtual hierarchy (`lspci --model devicemodels/mriov-2host.json");
            o.WriteLine("   --host 0 -t`), the manager sees the switch and the Base Function (`--host mgmt`), and `mrpcim move` hands a PF");
            o.WriteLine("   from one host to the other as a hot-remove and a hot-add.");
        }

        // The point of it all: the same guest workload through the three virtualized paths and bare metal.
        if (host0.RaidControllers().Any())
        {
            o.WriteLine();
            o.WriteLine("== 9. The same 4 KiB random reads (QD1, Optane-class media) four ways, in virtual time");
            o.WriteLine("   (`bench paths --ops 1000 --media optane`): bare metal (host driver on the PF), a VF assigned to a");
            o.WriteLine("   guest (EPT, IOMMU, posted interrupts), virtio-blk (ring + kick + I/O thread + VMFS + PF queues), and an");
            o.WriteLine("   emulated NVMe controller (every register access exits and is decoded with Iced):");
            var (args, _) = BenchArguments.Parse(["paths", "--ops", "1000", "--media", "optane"]);
            status |= BenchCommand.Run(session.System.Model, args!, o, o);
            o.WriteLine();
            o.WriteLine("   Every step of every I/O: `bench paths --trace-out t.json`, then open t.json in ui.perfetto.dev.");
        }
        return status;
    }
}
