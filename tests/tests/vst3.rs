//! VST3 smoke test: the real `VRNN Synth.vst3` loaded through its COM interface (the vst3
//! crate's bindings and libloading), activated, and processed: sound comes out.

use std::ffi::c_void;
use std::ptr::null_mut;

use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusDirections_, IAudioProcessor, IAudioProcessorTrait,
    IComponent, IComponentTrait, MediaTypes_, ProcessData, ProcessModes_, ProcessSetup, SpeakerArr,
    SymbolicSampleSizes_,
};
use vst3::Steinberg::{
    kResultOk, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait, PClassInfo,
};
use vst3::{ComPtr, Interface};

#[test]
fn vst3_bundle_loads_activates_and_plays() {
    let so = vrnn_tests::bundled("VRNN Synth.vst3/Contents/x86_64-linux/VRNN Synth.so");
    // SAFETY: loading and calling the plugin under test through its documented entry points.
    unsafe {
        let lib = libloading::Library::new(&so).expect("load the VST3 module");
        let entry: libloading::Symbol<unsafe extern "system" fn(*mut c_void) -> bool> =
            lib.get(b"ModuleEntry").expect("ModuleEntry");
        assert!(entry(null_mut()));
        let get_factory: libloading::Symbol<unsafe extern "system" fn() -> *mut IPluginFactory> =
            lib.get(b"GetPluginFactory").expect("GetPluginFactory");
        let factory = ComPtr::from_raw(get_factory()).expect("a factory");
        let mut info: PClassInfo = std::mem::zeroed();
        let audio = (0..factory.countClasses())
            .find(|&i| {
                factory.getClassInfo(i, &mut info);
                std::ffi::CStr::from_ptr(info.category.as_ptr()).to_bytes() == b"Audio Module Class"
            })
            .expect("an audio module class");
        assert!(audio >= 0);
        let mut obj: *mut c_void = null_mut();
        let r = factory.createInstance(
            info.cid.as_ptr(),
            IComponent::IID.as_ptr() as *const _,
            &mut obj,
        );
        assert_eq!(r, kResultOk);
        let component =
            ComPtr::<IComponent>::from_raw(obj as *mut IComponent).expect("a component");
        assert_eq!(component.initialize(null_mut()), kResultOk);
        let processor = component.cast::<IAudioProcessor>().expect("IAudioProcessor");
        let mut no_inputs: [u64; 0] = [];
        let mut outputs = [SpeakerArr::kStereo];
        assert_eq!(
            processor.setBusArrangements(no_inputs.as_mut_ptr(), 0, outputs.as_mut_ptr(), 1),
            kResultOk
        );
        let block = 512;
        let mut setup = ProcessSetup {
            processMode: ProcessModes_::kRealtime as i32,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
            maxSamplesPerBlock: block,
            sampleRate: 48_000.0,
        };
        assert_eq!(processor.setupProcessing(&mut setup), kResultOk);
        assert_eq!(
            component.activateBus(MediaTypes_::kAudio as i32, BusDirections_::kOutput as i32, 0, 1),
            kResultOk
        );
        assert_eq!(component.setActive(1), kResultOk);
        processor.setProcessing(1);
        let (mut left, mut right) = (vec![0.0f32; block as usize], vec![0.0f32; block as usize]);
        let mut energy = 0.0f64;
        for _ in 0..200 {
            let mut channels = [left.as_mut_ptr(), right.as_mut_ptr()];
            let mut bus = AudioBusBuffers {
                numChannels: 2,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 { channelBuffers32: channels.as_mut_ptr() },
            };
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: block,
                numInputs: 0,
                numOutputs: 1,
                inputs: null_mut(),
                outputs: &mut bus,
                inputParameterChanges: null_mut(),
                outputParameterChanges: null_mut(),
                inputEvents: null_mut(),
                outputEvents: null_mut(),
                processContext: null_mut(),
            };
            assert_eq!(processor.process(&mut data), kResultOk);
            assert!(left.iter().chain(&right).all(|v| v.is_finite()));
            energy += left.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        }
        assert!(energy > 1e-3, "not silent: energy {energy}");
        processor.setProcessing(0);
        component.setActive(0);
        component.terminate();
        drop(processor);
        drop(component);
        drop(factory);
        let exit: libloading::Symbol<unsafe extern "system" fn() -> bool> =
            lib.get(b"ModuleExit").expect("ModuleExit");
        exit();
    }
}
