using System.Text.Json.Nodes;
using static PcieVirt.Tests.Platform.Baseline;

namespace PcieVirt.Tests.Platform;

/// <summary>Each validation rule, triggered alone on an otherwise valid model: one error, right path, right message.</summary>
[TestFixture]
public class ModelValidationTests
{
    [Test]
    public void Baseline_IsValid()
    {
        var r = ParseWith(_ => { });
        Assert.That(r.Errors, Is.Empty, Describe(r));
    }

    static JsonNode J(string json) => JsonNode.Parse(json)!;

    static TestCaseData Case(string name, Action<JsonNode> mutate, string path, string message) =>
        new TestCaseData(mutate, path, message).SetName("Rule_" + name);

    static IEnumerable<TestCaseData> SingleErrorCases()
    {
        // Required fields and types
        yield return Case("MissingEcamBase", n => HostNode(n)["ecam"]!.AsObject().Remove("base"), Host + ".ecam.base", "missing required property");
        yield return Case("MissingVendorId", n => Function0(n)["identity"]!.AsObject().Remove("vendorId"), F0 + ".identity.vendorId", "missing required property");
        yield return Case("MissingPlatformName", n => n.AsObject().Remove("name"), "$.name", "missing required property");
        yield return Case("NoHosts", n => n["hosts"] = new JsonArray(), "$.hosts", "a platform needs at least one host");
        yield return Case("HostsNotArray", n => n["hosts"] = J("{}"), "$.hosts", "expected an array, found an object");
        yield return Case("GenOutOfRange", n => RootPort(n, 0)["link"]!["gen"] = 7, Rp0 + ".link.gen", "7 is out of range 1..6");
        yield return Case("GenWrongType", n => RootPort(n, 0)["link"]!["gen"] = true, Rp0 + ".link.gen", "expected a number or a numeric string, found a boolean");
        yield return Case("GenNotANumber", n => RootPort(n, 0)["link"]!["gen"] = "four", Rp0 + ".link.gen", "'four' is not a number");
        yield return Case("NegativeNumber", n => RootPort(n, 0)["busReserve"] = -1, Rp0 + ".busReserve", "-1 is not a non-negative integer");
        yield return Case("FractionalNumber", n => RootPort(n, 0)["busReserve"] = 1.5, Rp0 + ".busReserve", "1.5 is not a non-negative integer");
        yield return Case("SegmentOutOfRange", n => HostNode(n)["segment"] = 70000, Host + ".segment", "70000 is out of range 0..65535");
        yield return Case("DsnTooLarge", n => Caps0(n)["dsn"] = "0x1_0000_0000_0000_0000", F0 + ".capabilities.dsn", "does not fit in 64 bits");
        yield return Case("BoolWrongType", n => Caps0(n)["ari"] = "yes", F0 + ".capabilities.ari", "expected true or false, found a string");
        yield return Case("StringWrongType", n => Function0(n)["name"] = 5, F0 + ".name", "expected a string, found a number");

        // Unknown properties catch typos
        yield return Case("UnknownPropertyWithHint", n => RootPort(n, 0)["slt"] = 5, Rp0 + ".slt", "unknown property 'slt' (did you mean 'slot'?)");
        yield return Case("UnknownPropertyCaseHint", n => Function0(n)["Bars"] = new JsonArray(), F0 + ".Bars", "unknown property 'Bars' (did you mean 'bars'?)");
        yield return Case("UnknownPropertyNoHint", n => n["colour"] = "red", "$.colour", "unknown property 'colour'");
        yield return Case("UnknownCapability", n => Caps0(n)["msi-x"] = J("{}"), F0 + ".capabilities['msi-x']", "unknown property 'msi-x'");

        // Links
        yield return Case("LinkWidthX3", n => RootPort(n, 0)["link"]!["width"] = "x3", Rp0 + ".link.width", "x3 is not a link width (x1, x2, x4, x8, x16, x32)");
        yield return Case("LinkWidth12", n => RootPort(n, 0)["link"]!["width"] = 12, Rp0 + ".link.width", "12 is not a link width");
        yield return Case("LinkWidthMissing", n => RootPort(n, 0)["link"]!.AsObject().Remove("width"), Rp0 + ".link.width", "missing required property");

        // BARs
        yield return Case("BarSizeNotPowerOfTwo", n => Function0(n)["bars"]![0]!["size"] = "12K", F0 + ".bars[0].size", "12K is not a power of two");
        yield return Case("Bar64AtIndex5", n => Function0(n)["bars"]![1] = J("""{ "index": 5, "kind": "mem64", "size": "4K" }"""), F0 + ".bars[1].index", "a 64-bit BAR takes two registers and cannot start at index 5");
        yield return Case("BarInUpperHalfOf64", n => Function0(n)["bars"]![1]!["index"] = 1, F0 + ".bars[1].index", $"BAR1 is already used by {F0}.bars[0] (upper half of the 64-bit BAR0)");
        yield return Case("BarIndexTwice", n => Function0(n)["bars"]![1]!["index"] = 0, F0 + ".bars[1].index", $"BAR0 is already used by {F0}.bars[0]");
        yield return Case("Bar64NeedsNextRegister", n => Function1(n)["bars"] = J("""[ { "index": 1, "kind": "mem32", "size": "4K" }, { "index": 0, "kind": "mem64", "size": "16K" } ]"""),
            F1 + ".bars[1].index", $"the 64-bit BAR0 also needs register 1, which is already used by {F1}.bars[0]");
        yield return Case("BarIoPrefetchable", n => Function1(n)["bars"]!.AsArray().Add(J("""{ "index": 2, "kind": "io", "size": 32, "prefetchable": true }""")), F1 + ".bars[1].prefetchable", "an I/O BAR cannot be prefetchable");
        yield return Case("BarIoTooLarge", n => Function1(n)["bars"]!.AsArray().Add(J("""{ "index": 2, "kind": "io", "size": 512 }""")), F1 + ".bars[1].size", "512 is outside 4..256 bytes");
        yield return Case("BarMemTooSmall", n => Function1(n)["bars"]!.AsArray().Add(J("""{ "index": 2, "kind": "mem32", "size": 8 }""")), F1 + ".bars[1].size", "8 is below 16 bytes");
        yield return Case("BarMem32TooLarge", n => Function1(n)["bars"]!.AsArray().Add(J("""{ "index": 2, "kind": "mem32", "size": "4G" }""")), F1 + ".bars[1].size", "4G is above 2 GiB");
        yield return Case("BarUnknownKind", n => Function1(n)["bars"]![0]!["kind"] = "mem16", F1 + ".bars[0].kind", "'mem16' is not one of 'mem32', 'mem64', 'io'");
        yield return Case("RomTooSmall", n => Function1(n)["expansionRom"] = "1K", F1 + ".expansionRom", "1K is outside 2 KiB..16 MiB");
        yield return Case("RomNotPowerOfTwo", n => Function1(n)["expansionRom"] = "3K", F1 + ".expansionRom", "3K is not a power of two");

        // MSI-X placement
        yield return Case("MsixTableOutsideBar", n => Caps0(n)["msix"]!["tableOffset"] = "0x3FC0", F0 + ".capabilities.msix.tableOffset", "the MSI-X table at 0x3fc0 (128 bytes) does not fit in BAR0 of 16 KiB");
        yield return Case("MsixPbaOutsideBar", n => Caps0(n)["msix"]!["pbaOffset"] = "0x4000", F0 + ".capabilities.msix.pbaOffset", "the PBA at 0x4000 (8 bytes) does not fit in BAR0 of 16 KiB");
        yield return Case("MsixBarNotImplemented", n => { Caps0(n)["msix"]!["tableBar"] = 4; Caps0(n)["msix"]!["pbaBar"] = 0; }, F0 + ".capabilities.msix.tableBar", "BAR4 is not implemented");
        yield return Case("MsixBarUpperHalf", n => { Caps0(n)["msix"]!["tableBar"] = 1; Caps0(n)["msix"]!["pbaBar"] = 0; }, F0 + ".capabilities.msix.tableBar", "BAR1 is the upper half of the 64-bit BAR0");
        yield return Case("MsixInIoBar", n =>
        {
            Function0(n)["bars"]!.AsArray().Add(J("""{ "index": 3, "kind": "io", "size": 256 }"""));
            Caps0(n)["msix"]!["pbaBar"] = 0;
            Caps0(n)["msix"]!["tableBar"] = 3;
            Caps0(n)["msix"]!["tableOffset"] = 0;
        }, F0 + ".capabilities.msix.tableBar", "BAR3 is an I/O BAR");
        yield return Case("MsixPbaOverlapsTable", n => Caps0(n)["msix"]!["pbaOffset"] = "0x2040", F0 + ".capabilities.msix.pbaOffset", "the PBA at 0x2040 (8 bytes) overlaps the MSI-X table at 0x2000 (128 bytes)");
        yield return Case("MsixOffsetUnaligned", n => Caps0(n)["msix"]!["tableOffset"] = "0x2004", F0 + ".capabilities.msix.tableOffset", "0x2004 is not 8-byte aligned");
        yield return Case("MsixTableTooLarge", n => Caps0(n)["msix"]!["tableSize"] = 4096, F0 + ".capabilities.msix.tableSize", "4096 is out of range 1..2048");

        // Other capabilities
        yield return Case("MsiVectorsNotPowerOfTwo", n => Caps0(n)["msi"] = J("""{ "vectors": 3 }"""), F0 + ".capabilities.msi.vectors", "3 is not a power of two");
        yield return Case("MsiVectorsTooMany", n => Caps0(n)["msi"] = J("""{ "vectors": 64 }"""), F0 + ".capabilities.msi.vectors", "64 is out of range 1..32");
        yield return Case("MaxPayloadNotPowerOfTwo", n => Caps0(n)["pcie"] = J("""{ "maxPayload": 384 }"""), F0 + ".capabilities.pcie.maxPayload", "384 is not a power of two");
        yield return Case("MaxPayloadTooSmall", n => Caps0(n)["pcie"] = J("""{ "maxPayload": 64 }"""), F0 + ".capabilities.pcie.maxPayload", "64 is out of range 128..4096");
        yield return Case("PmeFromD1WithoutD1", n => Caps0(n)["pm"] = J("""{ "pmeSupport": ["D0", "D1"] }"""), F0 + ".capabilities.pm.pmeSupport[1]", "PME from D1 needs D1 support");
        yield return Case("PmeUnknownState", n => Caps0(n)["pm"] = J("""{ "pmeSupport": ["D4"] }"""), F0 + ".capabilities.pm.pmeSupport[0]", "'D4' is not one of 'D0', 'D1', 'D2', 'D3hot', 'D3cold'");
        yield return Case("AcsPortFeatureOnFunction", n => Caps0(n)["acs"] = J("""{ "features": ["sourceValidation"] }"""), F0 + ".capabilities.acs.features[0]", "'sourceValidation' is a downstream-port control");
        yield return Case("AcsFeatureTwice", n => RootPort(n, 0)["acs"] = J("""{ "features": ["upstreamForwarding", "upstreamForwarding"] }"""), Rp0 + ".acs.features[1]", "'upstreamForwarding' is listed twice");
        yield return Case("AcsEgressSizeWithoutEgress", n => RootPort(n, 0)["acs"] = J("""{ "features": ["sourceValidation"], "egressControlVectorSize": 8 }"""), Rp0 + ".acs.egressControlVectorSize", "only meaningful with the 'p2pEgressControl' feature");

        // Identity
        yield return Case("InterruptPinE", n => Function0(n)["identity"]!["interruptPin"] = "E", F0 + ".identity.interruptPin", "'E' is not one of 'none', 'A', 'B', 'C', 'D'");
        yield return Case("VendorIdAllOnes", n => Function0(n)["identity"]!["vendorId"] = "0xFFFF", F0 + ".identity.vendorId", "0xFFFF is not a Vendor ID");
        yield return Case("ClassCodeTooWide", n => Function0(n)["identity"]!["classCode"] = "0x1000000", F0 + ".identity.classCode", "0x1000000 is out of range 0x0..0xffffff");
        yield return Case("BridgeClassCode", n => Switch(n)["identity"]!["classCode"] = "0x010000", Rp1 + ".downstream.identity.classCode", "0x010000 is not a PCI-to-PCI bridge class code");
        yield return Case("SwitchIdentityMissing", n => Switch(n).AsObject().Remove("identity"), Rp1 + ".downstream.identity", "missing required property");

        // ECAM, apertures, RAM
        yield return Case("EcamBusRangeInverted", n => { HostNode(n)["ecam"]!["busStart"] = 10; HostNode(n)["ecam"]!["busEnd"] = 5; }, Host + ".ecam.busEnd", "busEnd 5 is below busStart 10");
        yield return Case("EcamMisaligned", n => HostNode(n)["ecam"]!["base"] = "0xE010_0000", Host + ".ecam.base", "0xE010_0000 is not aligned to 256 MiB");
        yield return Case("Mmio32OverlapsEcam", n => HostNode(n)["apertures"]!["mmio32"]!["base"] = "0xD000_0000", Host + ".ecam.base", "the ECAM window [0xe0000000..0xefffffff] overlaps the mmio32 aperture [0xd0000000..0xefffffff]");
        yield return Case("Mmio64OverlapsEcam", n => HostNode(n)["apertures"]!["mmio64"] = J("""{ "base": "0xE000_0000", "size": "256M" }"""), Host + ".ecam.base", "overlaps the mmio64 aperture");
        yield return Case("Mmio32Past4G", n => HostNode(n)["apertures"]!["mmio32"]!["base"] = "0xF000_0000", Host + ".apertures.mmio32.size", "the aperture 0xf0000000 + 512M must end below 4 GiB");
        yield return Case("Mmio32Misaligned", n => HostNode(n)["apertures"]!["mmio32"]!["base"] = "0xC000_1000", Host + ".apertures.mmio32.base", "0xC000_1000 is not aligned to 1 MiB");
        yield return Case("Mmio64OverlapsMmio32", n => HostNode(n)["apertures"]!["mmio64"] = J("""{ "base": "0xC000_0000", "size": "256M" }"""), Host + ".apertures.mmio64", "mmio64 [0xc0000000..0xcfffffff] overlaps mmio32 [0xc0000000..0xdfffffff]");
        yield return Case("IoSizeNotGranular", n => HostNode(n)["apertures"]!["io"]!["size"] = "0x1800", Host + ".apertures.io.size", "0x1800 is not a multiple of 4 KiB");
        yield return Case("Mmio32Missing", n => HostNode(n)["apertures"]!.AsObject().Remove("mmio32"), Host + ".apertures.mmio32", "missing required property");
        yield return Case("HighRamOverlapsMmio64", n => HostNode(n)["ramSize"] = "300G", Host + ".ramSize", "300G of RAM puts 297 GiB above 4 GiB at [0x100000000..0x4b3fffffff], which overlaps the mmio64 aperture [0x4000000000..0x43ffffffff]");
        yield return Case("RamNotMiBMultiple", n => HostNode(n)["ramSize"] = "0x10_0800", Host + ".ramSize", "0x10_0800 is not a multiple of 1 MiB");

        // Bus numbering: devices, functions, function 0
        yield return Case("RootPortDeviceTwice", n => RootPort(n, 1)["device"] = 1, Rp1 + ".device", $"device 1 function 0 is already used by {Rp0}");
        yield return Case("RootPortNoFunction0", n => RootPort(n, 1)["function"] = 1, Rp1 + ".function", "device 2 on the root bus has no function 0");
        yield return Case("DownstreamPortDeviceTwice", n => DownstreamPort(n, 1)["device"] = 0, Dp1 + ".device", $"device 0 on the switch's internal bus is already used by {Dp0}");
        yield return Case("EndpointNoFunction0", n => Function1(n)["function"] = 1, Dp0 + ".downstream.functions", "the device has no function 0");
        yield return Case("FunctionNumberTwice", n => DownstreamPort(n, 0)["downstream"]!["functions"]!.AsArray().Add(J("""{ "function": 0, "name": "dev9", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 } }""")),
            Dp0 + ".downstream.functions[1].function", $"function 0 is already defined by {F1}");
        yield return Case("FunctionAbove7NeedsAri", n => DownstreamPort(n, 0)["downstream"]!["functions"]!.AsArray().Add(J("""{ "function": 8, "name": "dev9", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 }, "capabilities": { "ari": true } }""")),
            F1 + ".capabilities", "the device uses function numbers above 7 (ARI), so every function must set capabilities.ari");
        yield return Case("AriOnSomeFunctionsOnly", n => DownstreamPort(n, 0)["downstream"]!["functions"]!.AsArray().Add(J("""{ "function": 1, "name": "dev9", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 }, "capabilities": { "ari": true } }""")),
            F1 + ".capabilities", "every function of an ARI device must set capabilities.ari");
        yield return Case("IntegratedFunctionAbove7", n => HostNode(n)["integratedEndpoints"] = J("""[ { "device": 5, "functions": [ { "function": 0, "name": "i0", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 } }, { "function": 9, "name": "i9", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 } } ] } ]"""),
            Host + ".integratedEndpoints[0].functions[1].function", "a root-complex integrated endpoint has function numbers 0..7");
        yield return Case("IntegratedOnRootPortDevice", n => HostNode(n)["integratedEndpoints"] = J("""[ { "device": 1, "functions": [ { "function": 0, "name": "i0", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 } } ] } ]"""),
            Host + ".integratedEndpoints[0].device", $"device 1 on the root bus is a root port device ({Rp0})");
        yield return Case("TooManyDownstreamPorts", n =>
        {
            var ports = new JsonArray();
            for (int i = 0; i < 33; i++) ports.Add(J($$"""{ "name": "p{{i}}", "device": {{Math.Min(i, 31)}}, "link": { "gen": 1, "width": 1 } }"""));
            Switch(n)["downstreamPorts"] = ports;
        }, Rp1 + ".downstream.downstreamPorts", "33 downstream ports do not fit on one bus: a bus holds at most 32 devices");

        // Ports: slots, hot-plug, attachments
        yield return Case("HotPlugWithoutSlot", n => DownstreamPort(n, 1).AsObject().Remove("slot"), Dp1 + ".hotPlug", "a hot-plug port needs a physical slot number ('slot')");
        yield return Case("SlotTwice", n => DownstreamPort(n, 1)["slot"] = 1, Dp1 + ".slot", $"slot 1 is already used by {Rp0}");
        yield return Case("SlotTooLarge", n => DownstreamPort(n, 1)["slot"] = 9000, Dp1 + ".slot", "9000 is out of range 0..8191");
        yield return Case("HotPlugWrongType", n => DownstreamPort(n, 1)["hotPlug"] = "yes", Dp1 + ".hotPlug", "expected true, false or an object, found a string");
        yield return Case("AttachmentTypeMissing", n => RootPort(n, 0)["downstream"]!.AsObject().Remove("type"), Rp0 + ".downstream.type", "missing required property");
        yield return Case("AttachmentTypeUnknown", n => RootPort(n, 0)["downstream"]!["type"] = "bridge", Rp0 + ".downstream.type", "'bridge' is not one of 'switch', 'endpoint'");
        yield return Case("AttachmentNotObject", n => RootPort(n, 0)["downstream"] = 5, Rp0 + ".downstream", "expected an object, found a number");
        yield return Case("SwitchWithoutPorts", n => Switch(n)["downstreamPorts"] = new JsonArray(), Rp1 + ".downstream.downstreamPorts", "a switch needs at least one downstream port");

        // Names
        yield return Case("NameTwiceInHost", n => Function1(n)["name"] = "dev0", F1 + ".name", $"name 'dev0' is already used by {F0}");
        yield return Case("NameCollidesWithDefaultPortName", n => Function1(n)["name"] = "rp01.0", F1 + ".name", $"name 'rp01.0' is already used by {Rp0}");
        yield return Case("NameInvalid", n => Function1(n)["name"] = "my dev", F1 + ".name", "'my dev' is not a valid name");
        yield return Case("DeviceKindInvalid", n => Function1(n)["device"] = "RAID", F1 + ".device", "'RAID' is not a device kind");
        yield return Case("SettingsNotObject", n => Function1(n)["settings"] = "fast", F1 + ".settings", "expected an object, found a string");

        // SR-IOV
        yield return Case("VfsAboveFunction7NeedAri", n => { Caps0(n)["ari"] = false; Sriov0(n)["totalVfs"] = 8; },
            F0 + ".capabilities.sriov.firstVfOffset", "VF 8 of 'dev0' gets function number 8 on the device's bus, which needs ARI");
        yield return Case("VfsOnNextBusNeedBusReserve", n => Sriov0(n)["firstVfOffset"] = 256,
            Rp0 + ".busReserve", "the VFs of the device below reach 1 bus number(s) past its own bus; busReserve must be at least 1 (it is 0)");
        yield return Case("VfCollidesWithPf", n =>
        {
            Sriov0(n)["firstVfOffset"] = 1;
            RootPort(n, 0)["downstream"]!["functions"]!.AsArray().Add(J("""{ "function": 1, "name": "dev0b", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 }, "capabilities": { "ari": true } }"""));
        }, F0 + ".capabilities.sriov.firstVfOffset", "VF 1 of 'dev0' (routing ID +0x1) collides with function 1 ('dev0b')");
        yield return Case("AriForwardingOffWithHighVfs", n => { RootPort(n, 0)["ariForwarding"] = false; Sriov0(n)["totalVfs"] = 8; },
            Rp0 + ".ariForwarding", "needs ARI Forwarding");
        yield return Case("InitialVfsDiffers", n => Sriov0(n)["initialVfs"] = 2, F0 + ".capabilities.sriov.initialVfs", "2 differs from totalVfs 4");
        yield return Case("InitialVfsAboveTotal", n => { Sriov0(n)["initialVfs"] = 5; Sriov0(n)["vfMigration"] = true; }, F0 + ".capabilities.sriov.initialVfs", "5 is above totalVfs 4");
        yield return Case("VfStrideZero", n => Sriov0(n)["vfStride"] = 0, F0 + ".capabilities.sriov.vfStride", "it must be at least 1 when totalVfs > 1");
        yield return Case("VfsSpanMoreThan16Bits", n => { Sriov0(n)["totalVfs"] = 65535; Sriov0(n)["vfStride"] = 256; }, F0 + ".capabilities.sriov.vfStride", "65535 VFs 256 apart span more than the 16-bit routing ID space");
        yield return Case("TotalVfsZero", n => Sriov0(n)["totalVfs"] = 0, F0 + ".capabilities.sriov.totalVfs", "0 is out of range 1..65535");
        yield return Case("PageSizesMissingRequired", n => Sriov0(n)["supportedPageSizes"] = J("""["4K", "8K"]"""),
            F0 + ".capabilities.sriov.supportedPageSizes", "missing: 64 KiB, 256 KiB, 1 MiB, 4 MiB");
        yield return Case("PageSizesMaskMissingRequired", n => Sriov0(n)["supportedPageSizes"] = "0x1", F0 + ".capabilities.sriov.supportedPageSizes", "missing: 8 KiB, 64 KiB");
        yield return Case("PageSizeNotPowerOfTwo", n => Sriov0(n)["supportedPageSizes"] = J("""["4K", "8K", "12K", "64K", "256K", "1M", "4M"]"""), F0 + ".capabilities.sriov.supportedPageSizes[2]", "12K is not a power of two");
        yield return Case("VfBarIo", n => Sriov0(n)["vfBars"]!.AsArray().Add(J("""{ "index": 2, "kind": "io", "size": 256 }""")), F0 + ".capabilities.sriov.vfBars[1].kind", "VF BARs decode memory only");
        yield return Case("VfBarBelow4K", n => Sriov0(n)["vfBars"]!.AsArray().Add(J("""{ "index": 2, "kind": "mem32", "size": "2K" }""")), F0 + ".capabilities.sriov.vfBars[1].size", "2K is below 4 KiB");
        yield return Case("VfMsixOutsideVfBar", n => Sriov0(n)["vfMsix"]!["tableOffset"] = "0x3FF0", F0 + ".capabilities.sriov.vfMsix.tableOffset", "the MSI-X table at 0x3ff0 (32 bytes) does not fit in VF BAR0 of 16 KiB");
        yield return Case("VfMsixInMissingVfBar", n => { Sriov0(n)["vfMsix"]!["tableBar"] = 2; Sriov0(n)["vfMsix"]!["pbaBar"] = 0; }, F0 + ".capabilities.sriov.vfMsix.tableBar", "VF BAR2 is not implemented");
        yield return Case("FunctionDependencyLinkUnknown", n => Sriov0(n)["functionDependencyLink"] = 3, F0 + ".capabilities.sriov.functionDependencyLink", "3 is not a function number of this device");
        yield return Case("FirstVfOffsetZero", n => Sriov0(n)["firstVfOffset"] = 0, F0 + ".capabilities.sriov.firstVfOffset", "0 is out of range 1..65535");
        yield return Case("IntegratedVfsLeaveRootBus", n => HostNode(n)["integratedEndpoints"] = J("""[ { "device": 5, "functions": [ { "function": 0, "name": "i0", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 }, "capabilities": { "sriov": { "totalVfs": 300, "vfDeviceId": 4 } } } ] } ]"""),
            Host + ".integratedEndpoints[0].functions[0].capabilities.sriov.totalVfs", "the VFs of a root-complex integrated endpoint must stay on the root bus");
        yield return Case("IntegratedVfsHitRootPort", n => HostNode(n)["integratedEndpoints"] = J("""[ { "device": 0, "functions": [ { "function": 0, "name": "i0", "identity": { "vendorId": 1, "deviceId": 2, "classCode": 3 }, "capabilities": { "sriov": { "totalVfs": 8, "vfDeviceId": 4 } } } ] } ]"""),
            Host + ".integratedEndpoints[0].functions[0].capabilities.sriov.firstVfOffset", $"VF 8 at device 1 function 0 of the root bus collides with {Rp0}");

        // Whole-host budgets
        yield return Case("NotEnoughBusNumbers", n => HostNode(n)["ecam"]!["busEnd"] = 3, Host + ".ecam.busEnd", "the topology needs 8 bus numbers (root bus, one per port and switch, plus busReserve) but buses 0..3 give 4");
        yield return Case("Mmio32TooSmall", n => { HostNode(n)["apertures"]!["mmio32"]!["size"] = "1M"; Function1(n)["bars"]![0]!["size"] = "2M"; },
            Host + ".apertures.mmio32.size", "1 MiB is too small: the BARs that must sit below 4 GiB (32-bit, non-prefetchable behind a port, ROMs) need at least");
        yield return Case("IoBarsWithoutIoAperture", n =>
        {
            HostNode(n)["apertures"]!.AsObject().Remove("io");
            Function1(n)["bars"]!.AsArray().Add(J("""{ "index": 2, "kind": "io", "size": 64 }"""));
        }, Host + ".apertures", "devices have I/O BARs (64 bytes) but the host has no io aperture");
        yield return Case("MemoryTooLargeForBothApertures", n => Function1(n)["bars"]![0] = J("""{ "index": 0, "kind": "mem64", "prefetchable": true, "size": "32G" }"""),
            Host + ".apertures", "the memory BARs need at least");
    }

    [TestCaseSource(nameof(SingleErrorCases))]
    public void Rule_ReportsOneErrorWithPathAndMessage(Action<JsonNode> mutate, string path, string message)
    {
        var r = ParseWith(mutate);
        Assert.That(r.Success, Is.False);
        Assert.That(r.Model, Is.Null);
        Assert.That(r.Errors, Has.Count.EqualTo(1), Describe(r));
        Assert.That(r.Errors[0].Path, Is.EqualTo(path), Describe(r));
        Assert.That(r.Errors[0].Message, Does.Contain(message), Describe(r));
        Assert.That(r.Errors[0].Line, Is.GreaterThan(0), "every error points into the source");
    }
}
